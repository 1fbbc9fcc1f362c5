import { NamespaceKeys, type CachePolicy, type LookupResult, type SimRequest } from './policy.js';

/** Infinite cache, no expiry: the upper bound (every block ever written stays). */
export function idealPolicy(): CachePolicy {
  const keys = new NamespaceKeys();
  const held = new Set<number>();
  return {
    name: 'ideal',
    lookup(ns, req: SimRequest): LookupResult {
      let k = 0;
      while (k < req.hashIds.length && held.has(keys.key(ns, req.hashIds[k]!))) k++;
      return { readTokens: k * req.blockSize, readBlocks: k };
    },
    write(ns, req, _now, read) {
      for (const id of req.hashIds) held.add(keys.key(ns, id));
      return { createdTokens: (req.hashIds.length - read.readBlocks) * req.blockSize };
    },
    size: () => held.size,
  };
}
