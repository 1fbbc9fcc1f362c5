import { createPolicy } from './index.js';
import type { PolicyOptions, SimRequest } from './policy.js';
import { simulate, type CacheScope, type WriteAt } from './simulator.js';
import { simulatedCost, type SimulatedCost } from '../cost.js';
import type { PriceTable } from '../prices.js';

export type SweepParam = 'ttl' | 'capacity';

export interface SweepPoint {
  /** Seconds for ttl, blocks for capacity. */
  value: number;
  hitRate: number;
  apiWeightedHitRate: number | null;
  readTokens: number;
  inputTokens: number;
  /** ttl sweeps with prices: the simulated traffic's cost at this TTL's write rate (src/analyze/cost.ts). */
  cost?: SimulatedCost;
}

export interface SweepResult {
  param: SweepParam;
  policy: string;
  points: readonly SweepPoint[];
}

/**
 * Hit-rate curve: re-simulates for each value. `ttl` sweeps the chosen policy's TTL (ttl when the policy has no
 * TTL); `capacity` sweeps an LRU capacity (blocks).
 */
export function sweep(
  reqs: readonly SimRequest[],
  param: SweepParam,
  values: readonly number[],
  base: { policy: string; options: PolicyOptions; scope: CacheScope; writeAt?: WriteAt; prices?: PriceTable },
): SweepResult {
  const outputOf = new Map(reqs.map((r) => [r.id, r.outputTokens]));
  const policyName = param === 'capacity' ? 'lru' : base.policy === 'anthropic' ? 'anthropic' : 'ttl';
  const points = values.map((value) => {
    const opts: PolicyOptions = { ...base.options, ...(param === 'ttl' ? { ttlS: value } : { capacityBlocks: value }) };
    const res = simulate(reqs, { policy: createPolicy(policyName, opts), scope: base.scope, writeAt: base.writeAt });
    return Object.freeze({
      value,
      hitRate: res.overall.hitRate,
      apiWeightedHitRate: res.overall.simHitRateOnApi,
      readTokens: res.overall.readTokens,
      inputTokens: res.overall.inputTokens,
      ...(param === 'ttl' && base.prices
        ? { cost: simulatedCost(res.requests.map((r) => ({ ...r, outputTokens: outputOf.get(r.id) ?? 0 })), value, base.prices) }
        : {}),
    });
  });
  return Object.freeze({ param, policy: policyName, points: Object.freeze(points) });
}
