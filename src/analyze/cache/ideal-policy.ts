import { NamespaceKeys, prefixIn, type CachePolicy, type LookupResult, type SimRequest } from './policy.js';

/** Infinite cache, no expiry: the upper bound (every block ever written stays). */
export function idealPolicy(): CachePolicy {
  const keys = new NamespaceKeys();
  const held = new Set<number>();
  return {
    name: 'ideal',
    lookup(ns, req: SimRequest): LookupResult {
      // Held blocks are never evicted and ids are chain hashes: the held prefix is found by binary search.
      const k = prefixIn((id) => held.has(keys.key(ns, id)), req.hashIds);
      return { readTokens: k * req.blockSize, readBlocks: k };
    },
    write(ns, req, _now, read) {
      for (let i = read.readBlocks; i < req.hashIds.length; i++) held.add(keys.key(ns, req.hashIds[i]!));
      return { createdTokens: (req.hashIds.length - read.readBlocks) * req.blockSize };
    },
    size: () => held.size,
  };
}
