import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent } from 'undici';
import type { BenchModule } from './bench.js';
import { writeTinyModel } from '../src/serve/gguf/tiny-model.js';
import { planFromBlocks } from '../src/replay/plan.js';
import { runSeries, type SeriesOptions } from '../src/pipelines/replay-series.js';
import { startManagedServer } from '../src/replay/managed-server.js';
import { anthropicBackend } from '../src/replay/backends/anthropic.js';
import { undiciTransport } from '../src/replay/transport.js';
import { systemClock } from '../src/shared/clock.js';
import type { BlockRequest } from '../src/shared/trace-record.js';

/**
 * Managed replay (`trace replay --model tiny.gguf`, the bundled server as a child process) vs `--endpoint` on the
 * same kind of server (same binary, model and flags, started once outside the replay), side by side in one run:
 * the managed server's start-to-ready time, and the per-request time (mean E2E and run wall / requests) of each
 * path. Three interleaved rounds; the median round is reported. Tiny 2×64 GGUF, llama engine, CPU.
 */
const BIN = fileURLToPath(new URL('../bin/trace.js', import.meta.url));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const N = 30;

function plan() {
  const reqs: BlockRequest[] = Array.from({ length: N }, (_, i) => ({
    id: `r${i}`, conversationId: 'c', agentId: 'main', parentAgentId: null, t: i * 0.01, model: null,
    inputTokens: 200 + 8 * i, outputTokens: 4, hashIds: [1, 2, 3, 100 + i], blockSize: 64, apiTime: 0.01, thinkTime: 0, ttft: null, usage: null, stopReason: 'end_turn',
  }));
  return planFromBlocks(reqs, 'bench', 'bench');
}

const bench: BenchModule = {
  name: 'managed',
  description: 'trace replay managed server: start-to-ready, per-request time managed vs --endpoint on the same server kind (tiny GGUF)',
  async run() {
    const dir = mkdtempSync(join(tmpdir(), 'trace-managed-bench-'));
    const model = join(dir, 'tiny.gguf');
    writeTinyModel(model, { layers: 2, dim: 64, contextLength: 8192, seed: 5 });
    const dispatcher = new Agent({ keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0, connections: 4 });
    const serve = { engine: 'llama', command: [process.execPath, BIN], ctxSize: 4096, slots: 1, threads: 1, extraArgs: ['--max-output-tokens', '4'] };
    const base = (out: string, endpoint: string | null): SeriesOptions => ({
      plan: plan(), models: [endpoint === null ? model : 'tiny'], endpoint, serve,
      warmup: 'load', repeats: 1, cacheBust: false, users: [1], staggerMs: 0, idleGapCapS: null, out,
      replay: {
        backend: anthropicBackend, apiKey: 'k', timing: 'fast', speed: 1, content: 'synthetic', maxConcurrency: 1, maxTokens: 4,
        slo: { ttftS: null, tpotS: null }, clock: systemClock, fetch: undiciTransport(dispatcher),
        config: { source: 'bench', source_kind: 'bench', conversation: null, label: null, api: 'anthropic' },
      },
    });
    const rounds: { ready: number; mE2e: number; mWall: number; eE2e: number; eWall: number; total: number }[] = [];
    try {
      for (let k = 0; k < 3; k++) {
        const t0 = performance.now();
        const m = await runSeries(base(join(dir, `m${k}`), null));
        const total = performance.now() - t0;
        const ext = await startManagedServer({ ...serve, model, logFile: join(dir, `ext${k}.log`) });
        let e;
        try {
          e = await runSeries(base(join(dir, `e${k}`), ext.url));
        } finally {
          await ext.stop();
        }
        const ms = m.runs[0]!.result.summary;
        const es = e.runs[0]!.result.summary;
        if (ms.requests.ok !== N || es.requests.ok !== N) throw new Error(`requests failed: managed ${ms.requests.ok}/${N}, endpoint ${es.requests.ok}/${N}`);
        rounds.push({ ready: m.servers[0]!.ready_ms, mE2e: ms.e2e_ms.mean!, mWall: ms.wall_ms / N, eE2e: es.e2e_ms.mean!, eWall: es.wall_ms / N, total });
      }
    } finally {
      await dispatcher.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
    const r = { ready: median(rounds.map((x) => x.ready)), mE2e: median(rounds.map((x) => x.mE2e)), eE2e: median(rounds.map((x) => x.eE2e)), mWall: median(rounds.map((x) => x.mWall)), eWall: median(rounds.map((x) => x.eWall)), total: median(rounds.map((x) => x.total)) };
    return {
      metrics: {
        start_to_ready_ms: +r.ready.toFixed(0),
        managed_e2e_mean_ms: +r.mE2e.toFixed(2),
        endpoint_e2e_mean_ms: +r.eE2e.toFixed(2),
        managed_vs_endpoint_e2e_ratio: +(r.mE2e / r.eE2e).toFixed(3),
        managed_wall_per_request_ms: +r.mWall.toFixed(2),
        endpoint_wall_per_request_ms: +r.eWall.toFixed(2),
        managed_series_total_ms: +r.total.toFixed(0),
      },
      lines: [
        `managed server start → ready: ${r.ready.toFixed(0)} ms (spawn node + load the tiny GGUF + listen; median of 3)`,
        `per request (${N} requests, fast timing, 1 in flight): managed ${r.mE2e.toFixed(2)} ms E2E vs --endpoint ${r.eE2e.toFixed(2)} ms → ×${(r.mE2e / r.eE2e).toFixed(3)}`,
        `run wall / request: managed ${r.mWall.toFixed(2)} ms vs --endpoint ${r.eWall.toFixed(2)} ms; whole managed series (start, warm-up, ${N} requests, stop) ${r.total.toFixed(0)} ms`,
      ],
    };
  },
};
export default bench;
