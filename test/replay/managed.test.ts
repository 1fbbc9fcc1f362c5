/**
 * Managed servers: a child process started per model, awaited until ready, stopped with SIGTERM (SIGKILL after
 * the grace), on success, on errors and on Ctrl-C — checked by pid. The child is test/replay/fake-serve.ts (the
 * real `trace serve` runs in the *.e2e tests); models are real GGUF headers written by writeTinyModel.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { systemClock } from '../../src/shared/clock.js';
import { startManagedServer, liveServers } from '../../src/replay/managed-server.js';
import { runSeries, type SeriesOptions } from '../../src/pipelines/replay-series.js';
import { planFromBlocks } from '../../src/replay/plan.js';
import { anthropicBackend } from '../../src/replay/backends/anthropic.js';
import { undiciTransport } from '../../src/replay/transport.js';
import { writeTinyModel } from '../../src/serve/gguf/tiny-model.js';
import { blk } from './helpers.js';
import { ROOT } from '../helpers/paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'trace-managed-'));
const dispatcher = new Agent();
afterAll(async () => {
  await dispatcher.destroy();
  rmSync(tmp, { recursive: true, force: true });
});
const FAKE = [process.execPath, '--import', 'tsx', join(ROOT, 'test', 'replay', 'fake-serve.ts')];
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function model(name: string, context: number): string {
  const p = join(tmp, name);
  writeTinyModel(p, { layers: 1, dim: 16, contextLength: context, seed: 1, f16: false });
  return p;
}

const plan = planFromBlocks([0, 1, 2].map((i) => blk({ id: `r${i}`, t: i * 0.01, inputTokens: 300, outputTokens: 4, hashIds: [1, 2, 3, 4] })), 'mini', 'test');

function series(over: Partial<SeriesOptions> & { out: string }): SeriesOptions {
  return {
    plan, models: [], endpoint: null,
    serve: { engine: 'llama', command: FAKE, graceMs: 2000, readyTimeoutMs: 60_000, env: { ...process.env } },
    warmup: 'load', repeats: 1, cacheBust: false, users: [1], staggerMs: 0, idleGapCapS: null,
    replay: {
      backend: anthropicBackend, apiKey: 'k', timing: 'fast', speed: 1, content: 'synthetic', maxConcurrency: 4, maxTokens: 4,
      slo: { ttftS: null, tpotS: null }, clock: systemClock, fetch: undiciTransport(dispatcher),
      config: { source: 'mini', source_kind: 'test', conversation: null, label: null, api: 'anthropic' },
    },
    ...over,
  };
}

describe('managed servers', () => {
  it('starts, reports ready, logs to a file, and stops (pid gone)', async () => {
    const log = join(tmp, 'a.server.log');
    const s = await startManagedServer({ command: FAKE, engine: 'llama', model: 'x.gguf', ctxSize: 2048, logFile: log, env: { ...process.env } });
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s.ready.context_size).toBe(2048);
    expect(alive(s.pid)).toBe(true);
    await s.stop();
    expect(alive(s.pid)).toBe(false);
    expect(readFileSync(log, 'utf8')).toMatch(/"event":"ready"/);
    expect(liveServers.size).toBe(0);
  }, 60_000);

  it('a server that ignores SIGTERM is killed after the grace', async () => {
    const s = await startManagedServer({ command: FAKE, engine: 'llama', model: 'x.gguf', ctxSize: 512, logFile: join(tmp, 'b.log'), graceMs: 300, env: { ...process.env, FAKE_SERVE_IGNORE_TERM: '1' } });
    await s.stop();
    expect(alive(s.pid)).toBe(false);
  }, 60_000);

  it('a server that dies before it is ready is a one-line EngineError with the log tail', async () => {
    await expect(startManagedServer({ command: FAKE, engine: 'llama', model: 'x.gguf', ctxSize: 512, logFile: join(tmp, 'c.log'), env: { ...process.env, FAKE_SERVE_EXIT: '1' } })).rejects.toThrow(
      /exited before it was ready \(code 3.*cannot load model/,
    );
  }, 60_000);

  it('two models × 2 repeats: one server per model in turn, knobs recorded, no server left', async () => {
    const out = join(tmp, 'two');
    const pids: number[] = [];
    const res = await runSeries(series({
      out, models: [model('small.gguf', 8192), model('big.gguf', 8192)], repeats: 2,
      serve: { engine: 'llama', command: FAKE, slots: 3, cacheBytes: 1000, threads: 1, env: { ...process.env } },
      onEvent: (e) => {
        if (e.type === 'server-ready') {
          // the previous model's server is gone before the next one starts
          for (const p of pids) expect(alive(p)).toBe(false);
          pids.push(e.pid);
        }
      },
    }));
    expect(res.runs.map((r) => [r.result.config.model, r.result.config.repeat, r.result.summary.requests.ok])).toEqual([['small', 1, 3], ['small', 2, 3], ['big', 1, 3], ['big', 2, 3]]);
    const cfg = res.runs[0]!.result.config;
    expect(cfg.server).toMatchObject({ engine: 'llama', slots: 3, cache_bytes: 1000, threads: 1, ctx_source: 'trace' });
    // byte-level tiny vocab: the largest synthetic prompt (4 blocks of 64 words + marker) as JSON bytes + output + margin, next power of two
    expect(cfg.server!.ctx_size).toBe(2048);
    expect(cfg.warmup).toBe('load');
    expect(pids).toHaveLength(2);
    for (const p of pids) expect(alive(p)).toBe(false);
    expect(readdirSync(out).filter((f) => f.endsWith('.server.log'))).toHaveLength(2);
    expect(readdirSync(out).filter((f) => f.endsWith('.json'))).toHaveLength(4);
  }, 120_000);

  it('a model whose trained context cannot hold the trace fails before any server starts', async () => {
    const events: string[] = [];
    await expect(runSeries(series({ out: join(tmp, 'ff'), models: [model('ok.gguf', 8192), model('short.gguf', 512)], onEvent: (e) => events.push(e.type) }))).rejects.toThrow(
      /short\.gguf: trained context 512 tokens cannot hold the trace — request r\d needs about \d+/,
    );
    expect(events).toEqual([]);
  }, 60_000);

  it('Ctrl-C during a run: the run is saved as interrupted and the server is stopped', async () => {
    const ac = new AbortController();
    let pid = 0;
    const base = series({ out: join(tmp, 'int'), models: [model('slow.gguf', 8192)] });
    const res = await runSeries({
      ...base,
      serve: { ...base.serve, env: { ...process.env, FAKE_SERVE_DELAY_MS: '60000' } },
      warmup: 'none',
      replay: { ...base.replay, signal: ac.signal },
      onEvent: (e) => {
        if (e.type === 'server-ready') {
          pid = e.pid;
          setTimeout(() => ac.abort(new Error('SIGINT')), 300);
        }
      },
    });
    expect(res.interrupted).toBe(true);
    expect(res.runs).toHaveLength(1);
    expect(res.runs[0]!.result.status).toBe('interrupted');
    expect(pid).toBeGreaterThan(0);
    expect(alive(pid)).toBe(false);
  }, 60_000);
});
