import { UsageError } from '../../shared/errors.js';
import { anthropicPolicy } from './anthropic-policy.js';
import { idealPolicy } from './ideal-policy.js';
import { lruPolicy } from './lru-policy.js';
import type { CachePolicy, PolicyOptions } from './policy.js';
import { ttlPolicy } from './ttl-policy.js';

export type { CachePolicy, PolicyOptions, LookupResult, MissReason, SimRequest, WriteResult } from './policy.js';

/** Registry of cache policies: name → factory. Every entry passes test/cache/policy-contract.test.ts. */
export const CACHE_POLICIES: Record<string, { description: string; create(o: PolicyOptions): CachePolicy }> = {
  ideal: { description: 'infinite capacity, no expiry (upper bound)', create: () => idealPolicy() },
  lru: { description: 'fixed capacity (--capacity), least-recently-used eviction', create: (o) => lruPolicy(o.capacityBlocks ?? 0) },
  ttl: { description: 'unbounded, blocks expire --ttl seconds after last use (refreshed on hit)', create: (o) => ttlPolicy(o.ttlS ?? 300) },
  anthropic: {
    description: 'Anthropic API: cache_control breakpoints, 20-block lookback, per-model minimum, 5 m / 1 h TTL',
    create: (o) => anthropicPolicy({ ttlS: o.ttlS, lookback: o.lookback, minTokens: o.minTokens }),
  },
};

export function createPolicy(name: string, opts: PolicyOptions = {}): CachePolicy {
  const p = CACHE_POLICIES[name];
  if (!p) throw new UsageError(`unknown cache policy "${name}" (known: ${Object.keys(CACHE_POLICIES).join(', ')})`);
  return p.create(opts);
}
