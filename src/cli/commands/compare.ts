import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { InputError } from '../../shared/errors.js';
import { fmtMs, fmtNum, fmtPct, printJson, table } from '../output.js';
import { readResults } from '../../replay/results.js';
import { compareRuns } from '../../replay/compare.js';
import { renderCompareHtml } from '../../replay/compare-html.js';

const n = (v: number | null | undefined, d = 1) => (v === null || v === undefined ? '-' : fmtNum(v, d));

/** `trace compare <dir>`: ranks the replay results in a directory. --json prints the Comparison (docs/replay.md). */
export const registerCompare: RegisterCommand = (program: Command, ctx: CliContext) => {
  program
    .command('compare <dir>')
    .description('Compare replay results (one table, optional self-contained HTML with bar charts)')
    .option('--html <file>', 'write a self-contained HTML report')
    .option('--json', 'print the comparison as JSON')
    .action(async (dir: string, opts: { html?: string; json?: boolean }) => {
      const results = readResults(resolve(ctx.cwd, dir));
      if (results.length === 0) throw new InputError(`no replay results (*.json with schema trace-replay-result/1) in ${dir}`);
      const c = compareRuns(results);
      if (opts.html) {
        const path = resolve(ctx.cwd, opts.html);
        writeFileSync(path, renderCompareHtml(c, `trace compare — ${dir}`));
        if (!opts.json) ctx.stdout(`wrote ${path}\n`);
      }
      if (opts.json) {
        printJson(ctx, c);
        return;
      }
      const rows = c.rows.map((r) => [
        r.rank === null ? '-' : r.rank,
        r.label ? `${r.model} (${r.label})` : r.model,
        r.status + (r.client_bound ? ' (client-bound)' : ''),
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
      const a = c.averages;
      rows.push(['', 'average', '', '', fmtMs(a.ttft_p50_ms), fmtMs(a.ttft_p99_ms), n(a.prefill_tok_s), n(a.decode_tok_s), fmtMs(a.e2e_p50_ms), `${n(a.total_time_s, 2)} s`, fmtPct(a.cache_hit_rate), n(a.goodput_rps, 3)]);
      ctx.stdout(
        table(['#', 'model', 'status', 'ok/failed', 'TTFT p50', 'TTFT p99', 'prefill tok/s', 'decode tok/s', 'E2E p50', 'total', 'cache hit', 'goodput req/s'], rows, {
          title: `ranked by ${c.ranked_by === 'goodput_rps' ? 'goodput' : 'TTFT p50'}`,
        }),
      );
      for (const f of c.failed) ctx.stdout(`failed: ${f.model} — ${f.file}: ${f.reason}\n`);
    });
};
