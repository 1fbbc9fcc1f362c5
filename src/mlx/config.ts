/**
 * Where the MLX worker comes from: python interpreter, worker script (mlx-server/worker.py in this checkout),
 * model path (a local mlx-lm model directory or HF repo id), extra PYTHONPATH entries (tests put a test double
 * of mlx_lm there), and supervision timings. Built by the CLI from flags/env (the
 * process environment comes in as `baseEnv`); defaults here are pure and read neither process.env nor the cwd.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface MlxConfig {
  python: string;
  workerScript: string;
  modelPath: string;
  pythonPath: string[];
  /** The environment the worker starts from (the CLI passes its process environment; nothing here reads it). */
  baseEnv: Record<string, string | undefined>;
  /** Extra environment for the worker (merged over baseEnv). */
  env: Record<string, string>;
  /** Health check: the worker must load the model and answer `info` within this time. */
  startTimeoutMs: number;
  /** Restart backoff: first delay, doubled per consecutive failure, capped. */
  restartBaseMs: number;
  restartMaxMs: number;
  /** Give up after this many consecutive failed starts / crashes. */
  maxRestarts: number;
  /** Clean shutdown: wait this long after `shutdown` before SIGKILL. */
  shutdownTimeoutMs: number;
}

/**
 * mlx-server/worker.py, found by walking up from this module (works from src/ under tsx and from dist/). When
 * it is nowhere above, the path where a checkout keeps it is returned and the worker start reports it missing.
 */
export function defaultWorkerScript(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  let dir = here;
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'mlx-server', 'worker.py');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return join(here, '..', '..', 'mlx-server', 'worker.py');
}

export function mlxConfig(modelPath: string, over: Partial<MlxConfig> = {}): MlxConfig {
  return {
    python: 'python3',
    workerScript: defaultWorkerScript(),
    modelPath,
    pythonPath: [],
    baseEnv: {},
    env: {},
    startTimeoutMs: 120_000,
    restartBaseMs: 250,
    restartMaxMs: 10_000,
    maxRestarts: 5,
    shutdownTimeoutMs: 3_000,
    ...over,
  };
}
