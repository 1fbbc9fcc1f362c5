import { NO_PROGRESS, type Progress, type ProgressFactory } from '../shared/progress.js';
export type { Progress } from '../shared/progress.js';
import Table from 'cli-table3';
import chalk from 'chalk';
import type { CliContext } from './context.js';

/** Prints a value as stable, pretty JSON followed by a newline. */
export function printJson(ctx: CliContext, value: unknown): void {
  ctx.stdout(JSON.stringify(value, null, 2) + '\n');
}

export function table(head: string[], rows: (string | number)[][], opts: { title?: string } = {}): string {
  const t = new Table({ head: head.map((h) => chalk.bold(h)), style: { head: [], border: [] } });
  for (const r of rows) t.push(r.map((c) => (typeof c === 'number' ? fmtNum(c) : c)));
  return (opts.title ? chalk.bold(opts.title) + '\n' : '') + t.toString() + '\n';
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

/** A progress reporter: a bar on a TTY (stderr), silent otherwise. */
export function createProgress(ctx: CliContext, enabled = ctx.isTTY): Progress {
  if (!enabled) return NO_PROGRESS;
  let total = 0;
  let done = 0;
  let label = '';
  let last = 0;
  const draw = (force = false) => {
    const now = Date.now();
    if (!force && now - last < 100) return;
    last = now;
    const width = 30;
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(frac * width);
    ctx.stderr(`\r${label} [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${done}/${total} ${(frac * 100).toFixed(0)}%`);
  };
  return {
    start(t, l = '') {
      total = t;
      done = 0;
      label = l;
      draw(true);
    },
    update(d) {
      done = d;
      draw();
    },
    increment(by = 1) {
      done += by;
      draw();
    },
    stop() {
      draw(true);
      ctx.stderr('\n');
    },
  };
}

/** A progress factory for pipelines: a bar on a TTY once the work is at least `minTotal` items. */
export function progressFactory(ctx: CliContext, minTotal = 200): ProgressFactory {
  return (total) => createProgress(ctx, ctx.isTTY && (total ?? 0) >= minTotal);
}
