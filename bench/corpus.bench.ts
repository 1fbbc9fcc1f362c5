import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchModule } from './bench.js';
import { CC_TRACES_WEKA_SHAPE, generateCorpus } from './corpus-gen.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'trace.js');
const TARGET_S = 60;
const TARGET_RSS_GIB = 2;

/**
 * Corpus scale: `trace simulate <dir> --policy ideal` over a cc-traces-weka-sized corpus (739 files, ~59k requests,
 * ~4.8 G prompt tokens; labelled-synthetic, bench/corpus-gen.ts) — wall time and peak RSS of the whole command
 * (a child process, /usr/bin/time) against the 60 s / 2 GiB targets; and `trace import` rows/s (a synthesized
 * requests.db into a fresh store). TRACE_BENCH_CORPUS_SESSIONS scales the corpus down for a quick look.
 */
const bench: BenchModule = {
  name: 'corpus',
  description: 'corpus-scale simulate (cc-traces-weka size) wall time + peak RSS vs 60 s / 2 GiB; trace import rows/s',
  async run() {
    const sessions = Number(process.env.TRACE_BENCH_CORPUS_SESSIONS ?? CC_TRACES_WEKA_SHAPE.sessions);
    const opts = { ...CC_TRACES_WEKA_SHAPE, sessions };
    const dir = join(tmpdir(), `trace-bench-corpus-${opts.sessions}x${opts.requestsPerSession}-s${opts.seed}`);
    const marker = join(dir, '.complete.json');
    if (!existsSync(marker)) writeFileSync(marker, JSON.stringify(generateCorpus(dir, opts)));
    const gen = JSON.parse(execFileSync('cat', [marker], { encoding: 'utf8' })) as { requests: number; promptTokens: number };
    const r = spawnSync('/usr/bin/time', ['-f', '%e %M', process.execPath, bin, 'simulate', dir, '--policy', 'ideal', '--json'], { encoding: 'utf8', maxBuffer: 1 << 30 });
    const last = r.stderr.trim().split('\n').pop() ?? '';
    const [wall, rssKb] = last.split(' ').map(Number);
    if (r.status !== 0 || !Number.isFinite(wall)) throw new Error(`simulate failed: ${r.stderr.slice(-500)}`);
    const sim = JSON.parse(r.stdout) as { overall: { requests: number; input_tokens: number; sim_hit_rate: number } };
    const rssGib = rssKb! / 2 ** 20;

    const work = mkdtempSync(join(tmpdir(), 'trace-bench-import-'));
    try {
      const srcDb = join(work, 'src.db');
      execFileSync(process.execPath, [bin, 'synth', '--out', srcDb, '--seed', '7', '--sessions', '20', '--json'], { encoding: 'utf8' });
      const t0 = performance.now();
      const out = execFileSync(process.execPath, [bin, 'import', srcDb, '--db', join(work, 'store.db'), '--json'], { encoding: 'utf8' });
      const secs = (performance.now() - t0) / 1000;
      const imp = JSON.parse(out) as { rows_after: number; elapsed_ms: number };
      const rowsPerS = imp.rows_after / (imp.elapsed_ms / 1000);
      return {
        metrics: {
          corpus_files: opts.sessions,
          corpus_requests: sim.overall.requests,
          corpus_prompt_tokens: sim.overall.input_tokens,
          simulate_wall_s: wall!,
          simulate_peak_rss_gib: +rssGib.toFixed(2),
          simulate_within_60s: wall! < TARGET_S ? 'yes' : 'no',
          simulate_within_2gib: rssGib < TARGET_RSS_GIB ? 'yes' : 'no',
          import_rows: imp.rows_after,
          import_rows_per_s: Math.round(rowsPerS),
          import_command_s: +secs.toFixed(2),
        },
        lines: [
          `corpus: ${opts.sessions} files, ${gen.requests} requests, ${(gen.promptTokens / 1e9).toFixed(2)} G prompt tokens (synthetic, bench/corpus-gen.ts)`,
          `simulate --policy ideal: ${wall!.toFixed(1)} s (target < ${TARGET_S} s: ${(wall! / TARGET_S).toFixed(2)}× the target), peak RSS ${rssGib.toFixed(2)} GiB (target < ${TARGET_RSS_GIB} GiB), sim hit ${(sim.overall.sim_hit_rate * 100).toFixed(1)}%`,
          `trace import: ${imp.rows_after} rows in ${(imp.elapsed_ms / 1000).toFixed(2)} s = ${Math.round(rowsPerS)} rows/s (whole command ${secs.toFixed(2)} s)`,
        ],
      };
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
};
export default bench;
