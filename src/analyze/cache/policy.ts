import type { BlockRequest } from '../../shared/trace-record.js';

/** What the simulator hands a policy: a block request plus (optionally) where its content blocks end. */
export type SimRequest = BlockRequest & { segmentEnds?: number[] };

/** Why a request did not read as much as was ever written before it (see simulator.ts). */
export type MissReason =
  | 'cold' // nothing of this prompt was ever cached
  | 'in-flight' // the prefix was sent before but its prefill had not ended yet (cache written at prefill end)
  | 'ttl-expired'
  | 'evicted'
  | 'prefix-changed' // the agent's previous prompt diverged from this one at `block`
  | 'below-minimum' // anthropic: prefix shorter than the model's minimum cacheable length
  | 'no-breakpoint'; // anthropic: no cache_control breakpoint (within the lookback) at the cached position

export interface LookupResult {
  /** Tokens read from cache (a prefix). */
  readTokens: number;
  /** Full blocks covered by the read. */
  readBlocks: number;
  /** When the policy knows why block `readBlocks` missed (expired / evicted / …). */
  reason?: MissReason;
}

export interface WriteResult {
  /** Tokens newly written to the cache by this request. */
  createdTokens: number;
}

/**
 * One cache policy. The simulator calls `lookup` at request start and `write` when its prefill ends; `ns` is the
 * scope namespace ('' for global scope, the conversation id for conversation scope). Times are seconds.
 */
export interface CachePolicy {
  readonly name: string;
  lookup(ns: string, req: SimRequest, now: number): LookupResult;
  /** `read` is what lookup returned for this request (policies use it to compute what is new). */
  write(ns: string, req: SimRequest, now: number, read: LookupResult): WriteResult;
  /** Blocks currently held (working set) at `now`. */
  size(now: number): number;
}

export interface PolicyOptions {
  /** TTL seconds (ttl, anthropic). Default 300. */
  ttlS?: number;
  /** Capacity in blocks (lru). */
  capacityBlocks?: number;
  /** Anthropic: lookback in content blocks from each breakpoint (default 20). */
  lookback?: number;
  /** Anthropic: override of the minimum cacheable prefix (tokens); default per model family. */
  minTokens?: number;
}

/** Numeric key of (namespace, hash id) so stores can use Map<number,…>. */
export class NamespaceKeys {
  private readonly ns = new Map<string, number>();
  key(ns: string, id: number): number {
    if (ns === '') return id;
    let n = this.ns.get(ns);
    if (n === undefined) {
      n = this.ns.size + 1;
      this.ns.set(ns, n);
    }
    return n * 2 ** 32 + id;
  }
}

/**
 * Length of the longest prefix of `ids` whose blocks satisfy `has`, given that the first `from` do. Block ids are
 * chain hashes (equal id ⇔ equal prefix, src/shared/trace-record.ts) and the written/sent/held sets only grow, so
 * membership is monotone along a request's ids: a binary search finds the prefix in O(log n) lookups.
 */
export function prefixIn(has: (id: number) => boolean, ids: readonly number[], from = 0): number {
  let lo = from;
  let hi = ids.length;
  if (lo >= hi || has(ids[hi - 1]!)) return hi;
  hi--;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (has(ids[mid]!)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
