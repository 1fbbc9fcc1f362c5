import { NO_PROGRESS, type Progress, type ProgressFactory } from '../shared/progress.js';
export type { Progress } from '../shared/progress.js';
import Table from 'cli-table3';
import chalk from 'chalk';
import cliProgress from 'cli-progress';
import { stripVTControlCharacters } from 'node:util';
import type { CliContext } from './context.js';

/** Prints a value as stable, pretty JSON followed by a newline. */
export function printJson(ctx: CliContext, value: unknown): void {
  ctx.stdout(JSON.stringify(value, null, 2) + '\n');
}

/** Cells that read as numbers (counts, percentages, durations, ratios): right-aligned. */
const NUMERIC = /^[-+]?\$?(\d[\d,]*(\.\d+)?|\.\d+)(\s?(%|ms|s|pp|x|×|KiB|MiB|GiB|tok\/s|req\/s))?( \(.*\))?$|^\d+\/\d+$/;
const EMPTY = /^(-|–|)$/;

/**
 * A compact table: one header rule, no rules between rows, numbers right-aligned (a column whose cells are all
 * numbers, percentages, durations or "-"). Bold header only where chalk has colour (see configureColor).
 */
export function table(head: string[], rows: (string | number)[][], opts: { title?: string } = {}): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmtNum(c) : c)));
  const colAligns = head.map((_, i) => {
    const col = rows.map((r) => r[i]);
    const numeric = col.some((c) => typeof c === 'number' || (typeof c === 'string' && NUMERIC.test(c.trim())));
    const all = col.every((c) => c === undefined || typeof c === 'number' || NUMERIC.test(c.trim()) || EMPTY.test(c.trim()));
    return numeric && all ? ('right' as const) : ('left' as const);
  });
  const t = new Table({
    head: head.map((h) => chalk.bold(h)),
    chars: COMPACT_CHARS,
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0, compact: true },
    colAligns,
  });
  for (const r of cells) t.push(r);
  const lines = t.toString().split('\n');
  const width = Math.max(...lines.map((l) => stripVTControlCharacters(l).length));
  lines.splice(1, 0, chalk.dim('─'.repeat(width)));
  return (opts.title ? chalk.bold(opts.title) + '\n' : '') + lines.map((l) => l.trimEnd()).join('\n') + '\n';
}

const COMPACT_CHARS = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
  left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ',
};

/**
 * Colour only where it helps: stdout is a TTY, NO_COLOR is unset and the output is not JSON (FORCE_COLOR wins,
 * as chalk documents). Called once by main before a command runs.
 */
export function configureColor(env: NodeJS.ProcessEnv, stdoutIsTTY: boolean, argv: readonly string[]): void {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return;
  if (env.NO_COLOR !== undefined || !stdoutIsTTY || argv.includes('--json')) chalk.level = 0;
}

export function fmtNum(n: number, digits = 2): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  return n.toLocaleString('en-US', { maximumFractionDigits: digits });
}

export function fmtPct(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '-';
  return `${(x * 100).toFixed(digits)}%`;
}

export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${ms.toFixed(ms < 10 ? 2 : 0)} ms`;
}

/** A progress reporter: a cli-progress bar on a TTY (stderr), silent otherwise. */
export function createProgress(ctx: CliContext, enabled = ctx.isTTY): Progress {
  if (!enabled) return NO_PROGRESS;
  const bar = new cliProgress.SingleBar(
    {
      stream: { write: (t: string) => (ctx.stderr(t), true), isTTY: true, columns: 100, cursorTo: () => true, clearLine: () => true, moveCursor: () => true, on: () => undefined } as unknown as NodeJS.WritableStream,
      format: '{label} [{bar}] {value}/{total} {percentage}% | {duration_formatted} elapsed, eta {eta_formatted}',
      hideCursor: false,
      clearOnComplete: false,
      noTTYOutput: true,
      notTTYSchedule: 100,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  let running = false;
  return {
    start(total, label = '') {
      if (running) bar.stop();
      running = true;
      bar.start(total, 0, { label });
    },
    update(done) {
      if (running) bar.update(done);
    },
    increment(by = 1) {
      if (running) bar.increment(by);
    },
    stop() {
      if (!running) return;
      running = false;
      bar.stop();
    },
  };
}

/** A progress factory for pipelines: a bar on a TTY once the work is at least `minTotal` items. */
export function progressFactory(ctx: CliContext, minTotal = 200): ProgressFactory {
  return (total) => createProgress(ctx, ctx.isTTY && (total ?? 0) >= minTotal);
}
