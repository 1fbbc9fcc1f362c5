import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { PipelineDeps } from '../pipelines/analysis.js';
import { progressFactory } from './output.js';

/** Everything a command may touch of the outside world; built once in main.ts (tests can build their own). */
export interface CliContext {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** stderr is a TTY (progress bars go there). */
  isTTY: boolean;
  /** stdout is a TTY (colour in tables); absent = not a TTY. */
  stdoutIsTTY?: boolean;
  clock: Clock;
  logger: Logger;
  /** Resolves when the user interrupts (SIGINT/SIGTERM); long-running commands race against it. */
  interrupted: AbortSignal;
  /** Commands that run until interrupted (capture, serve) register cleanup here. */
  onShutdown: (fn: () => Promise<void> | void) => void;
  /** Resolves when stdin ends (`trace serve --exit-with-parent`: the supervising process is gone); absent = never. */
  stdinEnded?: () => Promise<void>;
}

/** The dependencies a pipeline (src/pipelines) takes, from the CLI context: logger, clock, TTY progress, Ctrl-C. */
export function pipelineDeps(ctx: CliContext): PipelineDeps {
  return { logger: ctx.logger, clock: ctx.clock, progress: progressFactory(ctx), signal: ctx.interrupted };
}
