/**
 * MLX worker supervision against the Python test double of mlx_lm (test/mlx/fake_mlx_lm on PYTHONPATH):
 * health check, crash → restart with backoff (prompt caches forgotten), load failure, clean shutdown.
 */
import { describe, expect, it } from 'vitest';
import { mlxConfig } from '../../src/mlx/config.js';
import { MlxSupervisor } from '../../src/mlx/supervisor.js';
import { createMlxEngine } from '../../src/serve/engines/mlx-engine.js';
import { EngineError } from '../../src/shared/errors.js';
import { memoryLogger } from '../../src/shared/logger.js';
import { FAKE_MLX_LM, collect } from '../serve/engine-helpers.js';

const cfg = (over = {}) => mlxConfig('fake-model', { pythonPath: [FAKE_MLX_LM], restartBaseMs: 20, startTimeoutMs: 20_000, ...over });
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
/** Waits for a condition on the real worker process (bounded); fails the test if it never holds. */
const until = async (cond: () => boolean) => {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
  expect(cond()).toBe(true);
};

describe('MlxSupervisor', () => {
  it('starts the worker, restarts it after a crash with backoff, and shuts it down cleanly', async () => {
    const logger = memoryLogger();
    const sup = new MlxSupervisor(cfg(), logger);
    let restarts = 0;
    sup.onRestart = () => restarts++;
    const info = await sup.start();
    expect(info).toMatchObject({ model_id: 'fake-model', kv_bytes_per_token: 2 * 4 * 16 * 2 * 2, stop_tokens: [258] });
    const first = await sup.get();
    const pid1 = first.pid!;
    expect(sup.healthy).toBe(true);
    process.kill(pid1, 'SIGKILL');
    await until(() => restarts === 1);
    expect(restarts).toBe(1);
    await until(() => sup.healthy);
    const second = await sup.get();
    expect(second.pid).not.toBe(pid1);
    expect(sup.restarts).toBe(1);
    expect((await second.request('tokenize', { text: 'hi' }).result).tokens).toEqual([104, 105]);
    expect(logger.lines.some((l) => /restarting in 20 ms/.test(l))).toBe(true);
    await sup.close();
    expect(alive(second.pid!)).toBe(false);
    expect(sup.healthy).toBe(false);
    await expect(sup.get()).rejects.toThrow(EngineError);
  });

  it('gives up after maxRestarts consecutive crashes, with growing delays', async () => {
    const logger = memoryLogger();
    const sup = new MlxSupervisor(cfg({ maxRestarts: 2 }), logger);
    await sup.start();
    for (let i = 0; i < 3; i++) {
      await until(() => sup.healthy);
      process.kill((await sup.get()).pid!, 'SIGKILL');
      await until(() => !sup.healthy);
    }
    await until(() => logger.lines.some((l) => l.includes('giving up')));
    expect(logger.lines.filter((l) => /restarting in (\d+) ms/.test(l)).map((l) => Number(/in (\d+) ms/.exec(l)![1]))).toEqual([20, 40]);
    expect(logger.lines.some((l) => l.includes('giving up'))).toBe(true);
    await sup.close();
  });
});

describe('mlx engine supervision', () => {
  it('a model that fails to load is an EngineError at start', async () => {
    const err = await createMlxEngine({ modelPath: 'x', cacheBytes: 0, mlx: { pythonPath: [FAKE_MLX_LM], env: { FAKE_MLX_FAIL_LOAD: '1' } } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(String((err as Error).message)).toMatch(/load failed: FileNotFoundError/);
  });

  it('a missing python interpreter is an EngineError', async () => {
    const err = await createMlxEngine({ modelPath: 'x', cacheBytes: 0, mlx: { python: '/nonexistent/python3' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
  });

  it('a worker crash mid-request fails that request; the engine recovers with its caches forgotten', async () => {
    const engine = await createMlxEngine({ modelPath: 'fake-model', cacheBytes: 1 << 30, mlx: { pythonPath: [FAKE_MLX_LM], restartBaseMs: 20 } });
    try {
      const p = await engine.tokenize('a shared prompt for the cache');
      await collect(engine, { promptTokens: p, maxTokens: 3 });
      expect((await collect(engine, { promptTokens: p, maxTokens: 3 })).done.cachedTokens).toBe(p.length - 1);
      await expect(collect(engine, { promptTokens: [...p, 7], maxTokens: 3 })).rejects.toThrow(EngineError);
      const after = await collect(engine, { promptTokens: p, maxTokens: 3 });
      expect(after.done.cachedTokens).toBe(0);
      expect(after.done.outputTokens).toBe(3);
      expect(engine.cacheStats().entries).toBe(1);
    } finally {
      await engine.close();
    }
  });
});
