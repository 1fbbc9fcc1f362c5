import { Command, CommanderError } from 'commander';
import { systemClock } from '../shared/clock.js';
import { streamLogger } from '../shared/logger.js';
import { AbortedError, isTraceError, errorMessage } from '../shared/errors.js';
import type { CliContext } from './context.js';
import { COMMANDS } from './commands/index.js';
import { configureColor } from './output.js';

export const VERSION = '0.1.0';

/** Exit codes: 0 ok, 1 failure / regression (RegressionError, FailedError, anything unexpected), 2 bad input or usage. */
export function exitCodeFor(e: unknown): number {
  if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
  if (isTraceError(e)) {
    switch (e.code) {
      case 'E_USAGE':
      case 'E_INPUT':
      case 'E_SOURCE':
        return 2;
      case 'E_ABORTED':
        return 130;
      default:
        return 1;
    }
  }
  return 1;
}

export function buildProgram(ctx: CliContext): Command {
  const program = new Command();
  program
    .name('trace')
    .description('Capture, analyse, simulate and replay Claude Code (Anthropic Messages API) traffic')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => ctx.stdout(s), writeErr: (s) => ctx.stderr(s) })
    .exitOverride();
  for (const register of COMMANDS) register(program, ctx);
  for (const c of program.commands) c.exitOverride().configureOutput({ writeOut: (s) => ctx.stdout(s), writeErr: (s) => ctx.stderr(s) });
  return program;
}

export function defaultContext(): CliContext & { shutdown: () => Promise<void> } {
  const ac = new AbortController();
  const cleanups: (() => Promise<void> | void)[] = [];
  const ctx = {
    stdout: (t: string) => void process.stdout.write(t),
    stderr: (t: string) => void process.stderr.write(t),
    env: process.env,
    cwd: process.cwd(),
    isTTY: Boolean(process.stderr.isTTY),
    stdoutIsTTY: Boolean(process.stdout.isTTY),
    clock: systemClock,
    logger: streamLogger((l) => process.stderr.write(l + '\n'), Boolean(process.env.TRACE_DEBUG)),
    interrupted: ac.signal,
    stdinEnded: () =>
      new Promise<void>((r) => {
        process.stdin.once('end', r);
        process.stdin.once('close', r);
        process.stdin.once('error', () => r());
        process.stdin.resume(); // read (and drop) until EOF
      }),
    onShutdown: (fn: () => Promise<void> | void) => void cleanups.push(fn),
    shutdown: async () => {
      for (const fn of cleanups.splice(0).reverse()) await fn();
    },
  };
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) process.exit(130);
    ac.abort(new AbortedError(`interrupted (${sig})`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return ctx;
}

/** Runs the CLI; resolves to the exit code. Only this layer maps errors to exit codes and one-line messages. */
export async function main(argv: string[], ctx: CliContext & { shutdown?: () => Promise<void> } = defaultContext()): Promise<number> {
  const program = buildProgram(ctx);
  configureColor(ctx.env, ctx.stdoutIsTTY ?? false, argv);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return exitCodeFor(e);
    const code = exitCodeFor(e);
    const prefix = isTraceError(e) ? `trace: ${e.code}: ` : 'trace: ';
    ctx.stderr(prefix + errorMessage(e) + '\n');
    if (!isTraceError(e) && process.env.TRACE_DEBUG && e instanceof Error) ctx.stderr(String(e.stack) + '\n');
    return code;
  } finally {
    await ctx.shutdown?.();
  }
}
