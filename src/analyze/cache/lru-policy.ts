import { UsageError } from '../../shared/errors.js';
import { NamespaceKeys, type CachePolicy, type LookupResult, type SimRequest } from './policy.js';

/** Fixed capacity (blocks), least-recently-used eviction; a hit refreshes recency. */
export function lruPolicy(capacityBlocks: number): CachePolicy {
  if (!(capacityBlocks > 0)) throw new UsageError('lru policy needs a capacity > 0 (--capacity, tokens or blocks)');
  const keys = new NamespaceKeys();
  const held = new Map<number, true>(); // insertion order = recency
  const evicted = new Set<number>();
  const touch = (k: number) => {
    held.delete(k);
    held.set(k, true);
  };
  return {
    name: 'lru',
    lookup(ns, req: SimRequest): LookupResult {
      let k = 0;
      while (k < req.hashIds.length && held.has(keys.key(ns, req.hashIds[k]!))) k++;
      for (let i = 0; i < k; i++) touch(keys.key(ns, req.hashIds[i]!));
      const next = k < req.hashIds.length ? keys.key(ns, req.hashIds[k]!) : null;
      return { readTokens: k * req.blockSize, readBlocks: k, reason: next !== null && evicted.has(next) ? 'evicted' : undefined };
    },
    write(ns, req, _now, read) {
      let created = 0;
      for (const id of req.hashIds) {
        const k = keys.key(ns, id);
        if (!held.has(k)) created++;
        touch(k);
        evicted.delete(k);
      }
      while (held.size > capacityBlocks) {
        const oldest = held.keys().next().value as number;
        held.delete(oldest);
        evicted.add(oldest);
      }
      void read;
      return { createdTokens: created * req.blockSize };
    },
    size: () => held.size,
  };
}
