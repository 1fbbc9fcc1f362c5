import { InputError } from '../shared/errors.js';
import type { SimulationResult } from '../analyze/cache/simulator.js';

/** What a `trace ci` baseline stores (schema version 1). */
export interface CiBaseline {
  version: 1;
  created_at: string;
  settings: CiSettings;
  metrics: CiMetrics;
}

export interface CiSettings {
  policy: string;
  scope: string;
  block_size: number;
  tokenizer: string;
  hash: string;
}

export interface CiMetrics {
  requests: number;
  /** Σcache_read / Σcontext as the API reported (null when the source has no usage). */
  api_hit_rate: number | null;
  /** Simulated token-weighted hit rate. */
  sim_hit_rate: number;
  /** Mean prompt tokens per request (API context when reported, else our tokenizer's count). */
  tokens_per_turn: number;
}

export interface CiCheck {
  metric: keyof CiMetrics;
  baseline: number | null;
  current: number | null;
  /** Change in the metric's unit: pp for hit rates, % for tokens_per_turn. */
  delta: number | null;
  limit: number;
  regressed: boolean;
}

export function parseBaseline(text: string, path: string): CiBaseline {
  let d: unknown;
  try {
    d = JSON.parse(text);
  } catch (e) {
    throw new InputError(`baseline ${path} is not valid JSON (${(e as Error).message})`);
  }
  const b = d as Partial<CiBaseline>;
  const m = b?.metrics as Partial<CiMetrics> | undefined;
  if (!b || b.version !== 1 || !m || typeof m.sim_hit_rate !== 'number' || typeof m.tokens_per_turn !== 'number' || !('api_hit_rate' in m)) {
    throw new InputError(`baseline ${path} is not a trace ci baseline (version 1 with metrics.sim_hit_rate, api_hit_rate, tokens_per_turn)`);
  }
  return b as CiBaseline;
}

/** The gate's metrics of one simulation. */
export function ciMetrics(res: SimulationResult): CiMetrics {
  const apiCtx = res.requests.filter((r) => r.api).length;
  return {
    requests: res.overall.requests,
    api_hit_rate: res.overall.apiHitRate,
    sim_hit_rate: res.overall.hitRate,
    tokens_per_turn:
      apiCtx > 0 ? res.overall.apiContextTokens / apiCtx : res.overall.requests > 0 ? res.overall.inputTokens / res.overall.requests : 0,
  };
}

/** Hit rates regress when they drop by more than `tolPp` points; tokens per turn when it grows by more than `tolPct` %. */
export function compareToBaseline(base: CiMetrics, cur: CiMetrics, tolPp: number, tolPct: number): CiCheck[] {
  const rate = (metric: 'api_hit_rate' | 'sim_hit_rate'): CiCheck => {
    const b = base[metric];
    const c = cur[metric];
    const delta = b === null || c === null ? null : (c - b) * 100;
    return { metric, baseline: b, current: c, delta, limit: tolPp, regressed: delta !== null && delta < -tolPp };
  };
  const tb = base.tokens_per_turn;
  const tc = cur.tokens_per_turn;
  const tDelta = tb > 0 ? ((tc - tb) / tb) * 100 : null;
  return [
    rate('api_hit_rate'),
    rate('sim_hit_rate'),
    { metric: 'tokens_per_turn', baseline: tb, current: tc, delta: tDelta, limit: tolPct, regressed: tDelta !== null && tDelta > tolPct },
  ];
}
