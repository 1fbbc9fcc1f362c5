import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { InputError } from '../../shared/errors.js';
import { fmtMs, fmtNum, fmtPct, printJson, table } from '../output.js';
import { readResultsDir } from '../../replay/results.js';
import { compareRuns, groupName, type CompareGroup, type GroupMetric, type MetricWinner, type Spread } from '../../replay/compare.js';
import { renderCompareHtml } from '../../replay/compare-html.js';
import { capacityTable } from './replay.js';

const n = (v: number | null | undefined, d = 1) => (v === null || v === undefined ? '-' : fmtNum(v, d));

const FMT: Record<GroupMetric, [string, (v: number) => string]> = {
  ttft_p50_ms: ['TTFT p50', fmtMs],
  ttft_p90_ms: ['TTFT p90', fmtMs],
  tpot_p50_ms: ['TPOT p50', fmtMs],
  e2e_p50_ms: ['E2E p50', fmtMs],
  prefill_tok_s: ['prefill tok/s', (v) => fmtNum(v, 1)],
  decode_tok_s: ['decode tok/s', (v) => fmtNum(v, 1)],
  output_tok_s: ['output tok/s', (v) => fmtNum(v, 1)],
  cache_hit_rate: ['server cache hit', (v) => fmtPct(v)],
  job_completion_ms: ['job completion', fmtMs],
  goodput_rps: ['goodput req/s', (v) => fmtNum(v, 3)],
};

const spread = (s: Spread | null, f: (v: number) => string) => (s === null ? '-' : s.n > 1 ? `${f(s.median)} [${f(s.min)}–${f(s.max)}]` : f(s.median));

function groupTable(groups: CompareGroup[], ranked: string): string {
  const cols: GroupMetric[] = ['ttft_p50_ms', 'ttft_p90_ms', 'tpot_p50_ms', 'output_tok_s', 'cache_hit_rate', 'job_completion_ms'];
  return table(
    ['#', 'model', 'users', 'valid runs', ...cols.map((c) => FMT[c][0])],
    groups.map((g) => [g.rank ?? '-', groupName(g), g.users, `${g.valid_runs}/${g.runs}`, ...cols.map((c) => spread(g.metrics[c], FMT[c][1]))]),
    { title: `models — median [min–max] over valid repeats, ranked by ${ranked}` },
  );
}

function winnerTable(ws: MetricWinner[], multiLevel: boolean): string {
  return table(
    ['metric', ...(multiLevel ? ['users'] : []), 'winner', 'by', 'runner-up', 'verdict'],
    ws.map((w) => {
      const f = FMT[w.metric][1];
      const by = w.metric === 'cache_hit_rate' ? `${fmtNum(100 * w.difference, 1)} pp` : f(w.difference);
      return [
        FMT[w.metric][0],
        ...(multiLevel ? [w.users] : []),
        w.winner,
        `${by}${w.difference_pct === null || w.metric === 'cache_hit_rate' ? '' : ` (${fmtNum(w.difference_pct, 1)} %)`}`,
        w.runner_up,
        w.within_noise ? 'within noise' : w.spread_known ? 'beyond spread' : 'single run (spread unknown)',
      ];
    }),
    { title: 'winner per metric' },
  );
}

/** `trace compare <dir>`: ranks the replay results in a directory. --json prints the Comparison (docs/replay.md). */
export const registerCompare: RegisterCommand = (program: Command, ctx: CliContext) => {
  program
    .command('compare <dir>')
    .description('Compare replay results: runs grouped by model (median and range over repeats), winner per metric, capacity; optional HTML')
    .option('--html <file>', 'write a self-contained HTML report (tables, TTFT vs context, capacity curves, job times)')
    .option('--json', 'print the comparison as JSON')
    .action(async (dir: string, opts: { html?: string; json?: boolean }) => {
      const { results, skipped } = readResultsDir(resolve(ctx.cwd, dir));
      for (const s of skipped) ctx.logger.warn(`skipped unreadable result file ${s.path}: ${s.reason}`);
      if (results.length === 0) {
        throw new InputError(`no replay results (*.json with schema trace-replay-result/1) in ${dir}${skipped.length ? ` (${skipped.length} unreadable: ${skipped.map((s) => s.path).join(', ')})` : ''}`);
      }
      const c = compareRuns(results, skipped);
      if (opts.html) {
        const path = resolve(ctx.cwd, opts.html);
        writeFileSync(path, renderCompareHtml(c, `trace compare — ${dir}`, results.map((r) => r.result)));
        if (!opts.json) ctx.stdout(`wrote ${path}\n`);
      }
      if (opts.json) {
        printJson(ctx, c);
        return;
      }
      const ranked = c.ranked_by === 'goodput_rps' ? 'goodput' : 'TTFT p50';
      ctx.stdout(groupTable(c.groups, ranked));
      if (c.winners.length) ctx.stdout(winnerTable(c.winners, c.groups.some((g) => g.users > 1)));
      for (const k of c.capacity) ctx.stdout(capacityTable(k));
      const rows = c.rows.map((r) => [
        r.rank === null ? '-' : r.rank,
        r.label ? `${r.model} (${r.label})` : r.model,
        r.users,
        r.repeat,
        r.status + (r.client_bound ? ' (client-bound)' : '') + (r.valid ? '' : ` (invalid: ${r.invalid_reason})`),
        `${r.requests_ok}/${r.requests_failed}`,
        fmtMs(r.ttft_p50_ms),
        fmtMs(r.ttft_p99_ms),
        n(r.prefill_tok_s),
        n(r.decode_tok_s),
        fmtMs(r.e2e_p50_ms),
        `${n(r.total_time_s, 2)} s`,
        fmtPct(r.cache_hit_rate),
        r.goodput_rps === null ? '-' : n(r.goodput_rps, 3),
      ]);
      ctx.stdout(
        table(['#', 'model', 'users', 'repeat', 'status', 'ok/failed', 'TTFT p50', 'TTFT p99', 'prefill tok/s', 'decode tok/s', 'E2E p50', 'total', 'cache hit', 'goodput req/s'], rows, {
          title: `runs, ranked by ${ranked}`,
        }),
      );
      for (const f of c.failed) ctx.stdout(`failed: ${f.model} — ${f.file}: ${f.reason}\n`);
      if (skipped.length) ctx.stdout(`skipped ${skipped.length} unreadable result file(s): ${skipped.map((s) => `${s.path} (${s.reason})`).join('; ')}\n`);
    });
};
