/**
 * Where the MLX worker comes from: python interpreter, worker script (mlx-server/worker.py in this checkout),
 * model path (a local mlx-lm model directory or HF repo id), extra PYTHONPATH entries (tests put a test double
 * of mlx_lm there), and supervision timings. Built by the CLI from flags/env; defaults here are pure.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface MlxConfig {
  python: string;
  workerScript: string;
  modelPath: string;
  pythonPath: string[];
  /** Extra environment for the worker (merged over the parent's). */
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

/** mlx-server/worker.py, found by walking up from this module (works from src/ under tsx and from dist/). */
export function defaultWorkerScript(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'mlx-server', 'worker.py');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return join(process.cwd(), 'mlx-server', 'worker.py');
}

export function mlxConfig(modelPath: string, over: Partial<MlxConfig> = {}): MlxConfig {
  return {
    python: 'python3',
    workerScript: defaultWorkerScript(),
    modelPath,
    pythonPath: [],
    env: {},
    startTimeoutMs: 120_000,
    restartBaseMs: 250,
    restartMaxMs: 10_000,
    maxRestarts: 5,
    shutdownTimeoutMs: 3_000,
    ...over,
  };
}
