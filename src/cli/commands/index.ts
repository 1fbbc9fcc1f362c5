import type { Command } from 'commander';
import type { CliContext } from '../context.js';

/** Each command lives in its own file and registers itself here; order = order in `trace --help`. */
export type RegisterCommand = (program: Command, ctx: CliContext) => void;

export const COMMANDS: RegisterCommand[] = [];
