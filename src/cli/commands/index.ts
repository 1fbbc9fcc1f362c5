import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { registerCapture } from './capture.js';
import { registerModel } from './model.js';
import { registerSynth } from './synth.js';
import { registerSimulate } from './simulate.js';
import { registerExport } from './export.js';
import { registerCi } from './ci.js';
import { registerReport } from './report.js';
import { registerReplay } from './replay.js';
import { registerCompare } from './compare.js';
import { registerServe } from './serve.js';
import { registerDoctor } from './doctor.js';
import { registerList } from './list.js';
import { registerShow } from './show.js';
import { registerAnalyze } from './analyze.js';
import { registerImport } from './import.js';
import { registerView } from './view.js';
import { registerStats } from './stats.js';
import { registerPrune } from './prune.js';
import { registerVacuum } from './vacuum.js';

/** Each command lives in its own file and registers itself here; order = order in `trace --help`. */
export type RegisterCommand = (program: Command, ctx: CliContext) => void;

export const COMMANDS: RegisterCommand[] = [registerCapture, registerList, registerShow, registerAnalyze, registerModel, registerSynth, registerSimulate, registerReplay, registerCompare, registerServe, registerDoctor, registerExport, registerImport, registerCi, registerReport, registerView, registerStats, registerPrune, registerVacuum];
