/**
 * The team store, measured side by side in one run (needs the Debian PostgreSQL binaries; skipped, saying so,
 * without them):
 * 1. capture overhead at c=1: the same fake upstream hit directly, through `trace capture --db requests.db`, the
 *    same with `--compact-bodies` and through `trace capture --db postgres://…` (real processes, interleaved
 *    requests); added TTFT p50/p99. With
 *    BENCH_BASELINE_BIN=<an older checkout's bin/trace.js>, that build's SQLite capture runs in the same rounds
 *    ("before": e.g. the commit before the store work);
 * 2. `trace analyze`'s pipeline (loadAnalysis: linking + usage, no tokenizer) over N generated requests stored
 *    in Postgres and the same rows in SQLite: rows/s and the process RSS high-water mark, at N/4 and N, so the
 *    growth per request shows that bodies are streamed (bounded by one page), not held.
 *    N = BENCH_STORE_N (default 40,000; BENCH_STORE_N=1000000 is the issue's million, about half an hour here;
 *    above 200,000 the SQLite side runs at N/4 only, to keep the run under an hour).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import type { BenchModule, BenchResult } from './bench.js';
import { one, startCapture, type Sample } from './proxy.bench.js';
import { quantileSorted } from '../src/analyze/percentiles.js';
import { createFakeAnthropic, textReply } from '../test/helpers/fake-anthropic.js';
import { HAS_POSTGRES, NO_POSTGRES_MESSAGE, startPostgres } from '../test/helpers/postgres.js';
import { openStore } from '../src/store/store.js';
import { parseDbTarget } from '../src/store/target.js';
import type { RequestRowInput } from '../src/store/requests-repo.js';
import { loadAnalysis } from '../src/pipelines/analysis.js';
import { silentLogger } from '../src/shared/logger.js';
import { systemClock } from '../src/shared/clock.js';

const SERIAL = 150;
const N = Number(process.env.BENCH_STORE_N ?? 40_000);
const TURNS = 40;

const q = (xs: number[], p: number) => quantileSorted([...xs].sort((a, b) => a - b), p) ?? NaN;

/** Conversations of TURNS append-only requests (~1-6 KB bodies), usage and timing filled like capture's rows. */
function* rows(n: number): Generator<RequestRowInput> {
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  const system = [{ type: 'text', text: 'You are a coding agent. '.repeat(20) }];
  for (let i = 0; i < n; i++) {
    const conv = Math.floor(i / TURNS);
    const turn = i % TURNS;
    const messages: unknown[] = [];
    for (let k = 0; k <= turn; k++) {
      messages.push({ role: 'user', content: `conversation ${conv} question ${k}: what does function f${k} return?` });
      if (k < turn) messages.push({ role: 'assistant', content: [{ type: 'text', text: `f${k} returns ${k * 7}.` }] });
    }
    const session = `00000000-0000-4000-8000-${String(conv).padStart(12, '0')}`;
    const body = JSON.stringify({ model: 'claude-bench', max_tokens: 256, stream: true, system, messages, metadata: { user_id: JSON.stringify({ device_id: 'd', account_uuid: '', session_id: session }) } });
    yield {
      id: `bench-${i}`, method: 'POST', endpoint: '/v1/messages', headers: '{}', body, model: 'claude-bench', session_id: session,
      is_streaming: 1, status: 200, state: 'complete', started_at_ms: t0 + conv * 3_600_000 + turn * 20_000, seq: i, ttft_ms: 300, duration_ms: 2000,
      input_tokens: 3, output_tokens: 20, cache_read_input_tokens: 200 + turn * 40, cache_creation_input_tokens: 40, stop_reason: 'end_turn', message_id: `msg_${i}`,
    };
  }
}

async function fill(target: string, n: number): Promise<number> {
  const store = await openStore(parseDbTarget(target, tmpdir()));
  const t = performance.now();
  let batch: RequestRowInput[] = [];
  for (const r of rows(n)) {
    batch.push(r);
    if (batch.length === 1000) {
      await store.insertRequests(batch);
      batch = [];
    }
  }
  if (batch.length) await store.insertRequests(batch);
  await store.close();
  return (performance.now() - t) / 1000;
}

/** loadAnalysis over `path`: wall seconds and the RSS high-water mark while it ran (sampled every 20 ms). */
async function analyse(path: string): Promise<{ s: number; requests: number; peakRssMb: number }> {
  global.gc?.();
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const t = performance.now();
  try {
    const a = await loadAnalysis(path, { tokenizer: null, storeIndex: false }, { logger: silentLogger, clock: systemClock });
    peak = Math.max(peak, process.memoryUsage().rss);
    return { s: (performance.now() - t) / 1000, requests: a.facts.length, peakRssMb: peak / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}

async function captureOverhead(pgUrl: string, dir: string, m: BenchResult['metrics'], lines: string[]): Promise<void> {
  const fake = createFakeAnthropic({ script: () => textReply('The quick brown fox jumps over the lazy dog. '.repeat(4), { pieceSize: 12, eventDelayMs: 1 }) });
  await fake.listen();
  const sqlite = await startCapture(fake.url, join(dir, 'requests.db'));
  const pg = await startCapture(fake.url, pgUrl);
  const compact = await startCapture(fake.url, join(dir, 'compact.db'), ['--compact-bodies']);
  const agent = new Agent({ connections: 8, headersTimeout: 0, bodyTimeout: 0 });
  const body = JSON.stringify({ model: 'claude-bench', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'x'.repeat(4000) }] });
  const base = process.env.BENCH_BASELINE_BIN ? await startCapture(fake.url, join(dir, 'baseline.db'), [], process.env.BENCH_BASELINE_BIN) : null;
  const urls: [string, string][] = [['sqlite', sqlite.url], ['sqlite_compact', compact.url], ['postgres', pg.url], ...(base ? [['sqlite_before', base.url] as [string, string]] : [])];
  // Each variant in its own block, alternating with direct requests (as `bench proxy` does), two blocks per
  // variant in rotating order: a proxy is measured while it is the one in use, not after idling behind the others.
  const runs: Record<string, { direct: Sample[]; proxied: Sample[] }> = Object.fromEntries(urls.map(([k]) => [k, { direct: [], proxied: [] }]));
  try {
    for (let i = 0; i < 30; i++) for (const [, u] of [['direct', fake.url], ...urls]) await one(u!, agent, body);
    for (let block = 0; block < 2; block++) {
      for (const [k, u] of block === 0 ? urls : [...urls].reverse()) {
        for (let i = 0; i < 10; i++) await one(u, agent, body); // this proxy warm again
        for (let i = 0; i < SERIAL / 2; i++) {
          runs[k]!.direct.push(await one(fake.url, agent, body));
          runs[k]!.proxied.push(await one(u, agent, body));
        }
      }
    }
  } finally {
    await agent.destroy();
    await sqlite.stop();
    await compact.stop();
    await pg.stop();
    await base?.stop();
    await fake.close();
  }
  for (const p of [0.5, 0.99] as const) {
    const pn = p === 0.5 ? 'p50' : 'p99';
    const parts: string[] = [];
    for (const [k, r] of Object.entries(runs)) {
      const d = q(r.direct.map((s) => s.ttft), p);
      const v = q(r.proxied.map((s) => s.ttft), p);
      m[`c1_ttft_${pn}_${k}_added_ms`] = +(v - d).toFixed(3);
      parts.push(`${k} ${v.toFixed(2)} ms vs direct ${d.toFixed(2)} (added ${(v - d).toFixed(2)})`);
    }
    lines.push(`capture c=1 ttft ${pn}: ${parts.join('; ')}`);
  }
}

const bench: BenchModule = {
  name: 'store',
  description: `team store: capture overhead at c=1 (SQLite vs Postgres), analyze over ${N.toLocaleString('en')} generated requests in Postgres vs SQLite (RSS)`,
  async run(): Promise<BenchResult> {
    if (!HAS_POSTGRES) return { metrics: { skipped: NO_POSTGRES_MESSAGE }, lines: [NO_POSTGRES_MESSAGE] };
    const server = await startPostgres();
    const dir = mkdtempSync(join(tmpdir(), 'trace-bench-store-'));
    const m: BenchResult['metrics'] = { n: N };
    const lines: string[] = [];
    try {
      await captureOverhead(server.createDatabase('cap'), dir, m, lines);
      for (const n of [Math.floor(N / 4), N]) {
        const withSqlite = n === Math.floor(N / 4) || N <= 200_000;
        const pg = server.createDatabase(`a${n}`);
        const lite = join(dir, `a${n}.db`);
        const fillPg = await fill(pg, n);
        const fillLite = withSqlite ? await fill(lite, n) : NaN;
        const a = await analyse(pg);
        const b = withSqlite ? await analyse(lite) : null;
        if (a.requests !== n || (b && b.requests !== n)) throw new Error(`analysed ${a.requests} / ${b?.requests} of ${n}`);
        m[`postgres_${n}_analyze_rows_per_s`] = Math.round(n / a.s);
        m[`postgres_${n}_peak_rss_mb`] = Math.round(a.peakRssMb);
        m[`postgres_${n}_insert_rows_per_s`] = Math.round(n / fillPg);
        if (b) {
          m[`sqlite_${n}_analyze_rows_per_s`] = Math.round(n / b.s);
          m[`sqlite_${n}_peak_rss_mb`] = Math.round(b.peakRssMb);
          m[`sqlite_${n}_insert_rows_per_s`] = Math.round(n / fillLite);
        }
        const sqlite = b ? `, sqlite ${Math.round(n / b.s)}/s (peak RSS ${Math.round(b.peakRssMb)} MB)` : ' (sqlite not run at this size)';
        const inserts = `insert ${Math.round(n / fillPg)}/s pg` + (b ? `, ${Math.round(n / fillLite)}/s sqlite` : '');
        lines.push(`analyze ${n.toLocaleString('en')} requests: postgres ${Math.round(n / a.s)}/s (peak RSS ${Math.round(a.peakRssMb)} MB)${sqlite}; ${inserts}`);
        if (process.stderr.isTTY || process.env.BENCH_VERBOSE) process.stderr.write(`store bench: ${lines[lines.length - 1]}\n`);
      }
      lines.push('RSS is the process high-water mark (this bench process, capture children excluded); growth N/4 → N is the per-request facts the analysis keeps, bodies stream one page at a time');
    } finally {
      server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    return { metrics: m, lines };
  },
};

export default bench;
