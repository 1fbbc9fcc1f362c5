import { UsageError } from '../../shared/errors.js';
import { NamespaceKeys, type CachePolicy, type LookupResult, type SimRequest } from './policy.js';

/** Unbounded capacity, each block expires `ttlS` seconds after its last use (a hit refreshes it). */
export function ttlPolicy(ttlS = 300): CachePolicy {
  if (!(ttlS > 0)) throw new UsageError('ttl must be > 0 seconds');
  const keys = new NamespaceKeys();
  // Map order = order of last use; with one TTL for all, expiry order equals that order.
  const lastUse = new Map<number, number>();
  const expired = new Set<number>();
  const purge = (now: number) => {
    for (const [k, at] of lastUse) {
      if (at + ttlS > now) break;
      lastUse.delete(k);
      expired.add(k);
    }
  };
  const touch = (k: number, now: number) => {
    lastUse.delete(k);
    lastUse.set(k, now);
    expired.delete(k);
  };
  return {
    name: 'ttl',
    lookup(ns, req: SimRequest, now): LookupResult {
      purge(now);
      let k = 0;
      while (k < req.hashIds.length && lastUse.has(keys.key(ns, req.hashIds[k]!))) k++;
      for (let i = 0; i < k; i++) touch(keys.key(ns, req.hashIds[i]!), now);
      const next = k < req.hashIds.length ? keys.key(ns, req.hashIds[k]!) : null;
      return { readTokens: k * req.blockSize, readBlocks: k, reason: next !== null && expired.has(next) ? 'ttl-expired' : undefined };
    },
    write(ns, req, now, read) {
      purge(now);
      let created = 0;
      for (const id of req.hashIds) {
        const k = keys.key(ns, id);
        if (!lastUse.has(k)) created++;
        touch(k, now);
      }
      void read;
      return { createdTokens: created * req.blockSize };
    },
    size(now) {
      purge(now);
      return lastUse.size;
    },
  };
}
