/** Shared by the engine tests: the tiny GGUF, the fake mlx_lm double, and engine builders per registry name. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/paths.js';
import { writeTinyModel } from '../../src/serve/gguf/tiny-model.js';
import { ENGINES } from '../../src/serve/engines/index.js';
import type { Engine, GenerateEvent, GenerateRequest } from '../../src/serve/engine.js';

export const FAKE_MLX_LM = join(ROOT, 'test', 'mlx', 'fake_mlx_lm');

let tinyPath: string | undefined;
/** A tiny GGUF written once per test file under os.tmpdir(). */
export function tinyModel(): string {
  if (!tinyPath) {
    tinyPath = join(mkdtempSync(join(tmpdir(), 'trace-engine-')), 'tiny.gguf');
    writeTinyModel(tinyPath, { layers: 2, dim: 64, seed: 7 });
  }
  return tinyPath;
}

export interface EngineSpec {
  name: string;
  /** Requests the engine generates at once (llama: its slots; the mlx worker: one at a time). */
  slots: number;
  /** What a repeated / extended prompt reuses: documented per engine (both: LCP, minus the last prompt token). */
  make(cacheBytes: number, extra?: Record<string, unknown>): Promise<Engine>;
}

export const ENGINE_SPECS: EngineSpec[] = [
  {
    name: 'llama',
    slots: 2,
    make: (cacheBytes, extra = {}) =>
      ENGINES.llama!({ modelPath: tinyModel(), cacheBytes, contextSize: 2048, slots: 2, threads: 1, gpu: false, ...extra }),
  },
  {
    name: 'mlx',
    slots: 1,
    make: (cacheBytes, extra = {}) =>
      ENGINES.mlx!({
        modelPath: 'fake-mlx-model',
        cacheBytes,
        contextSize: 2048,
        mlx: { pythonPath: [FAKE_MLX_LM], env: { FAKE_MLX_TOKEN_DELAY_MS: '1' }, startTimeoutMs: 20_000 },
        ...extra,
      }),
  },
];

export interface Collected {
  events: GenerateEvent[];
  tokens: number[];
  text: string;
  done: Extract<GenerateEvent, { type: 'done' }>;
  /** Absent only when the request was aborted before it started. */
  prefill?: Extract<GenerateEvent, { type: 'prefill' }>;
}

export async function collect(engine: Engine, req: GenerateRequest, onToken?: (n: number) => void): Promise<Collected> {
  const events: GenerateEvent[] = [];
  for await (const e of engine.generate(req)) {
    events.push(e);
    if (e.type === 'token') onToken?.(events.filter((x) => x.type === 'token').length);
  }
  const tokenEvents = events.filter((e): e is Extract<GenerateEvent, { type: 'token' }> => e.type === 'token');
  const done = events.at(-1);
  if (done?.type !== 'done') throw new Error('last event is not done');
  const prefill = events.find((e): e is Extract<GenerateEvent, { type: 'prefill' }> => e.type === 'prefill');
  if (!prefill && done.stopReason !== 'aborted') throw new Error('no prefill event');
  return { events, tokens: tokenEvents.map((e) => e.id), text: tokenEvents.map((e) => e.text).join('') + (done.trailingText ?? ''), done, ...(prefill ? { prefill } : {}) };
}

export function lcp(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
