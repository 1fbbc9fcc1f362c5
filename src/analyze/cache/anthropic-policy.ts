import type { CachePolicy, LookupResult, MissReason, SimRequest } from './policy.js';

/**
 * Minimum cacheable prefix per model family (Anthropic prompt-caching docs): Opus 4.5+ and Haiku 4.5+ 4096,
 * Sonnet 4.6+ and Haiku 3/3.5 2048, other Sonnet/Opus 1024.
 */
export function minCacheableTokens(model: string | null): number {
  const m = (model ?? '').toLowerCase();
  const ver = /(opus|sonnet|haiku)-(\d)(?:-(\d{1,2}))?(?!\d)/.exec(m);
  const legacy = /claude-(\d)(?:-(\d))?-(opus|sonnet|haiku)/.exec(m); // claude-3-5-haiku-…
  const family = ver?.[1] ?? legacy?.[3] ?? '';
  const major = Number(ver?.[2] ?? legacy?.[1] ?? 0);
  const minor = Number(ver?.[3] ?? legacy?.[2] ?? 0);
  const v = major + minor / 10;
  if (family === 'haiku') return v >= 4.5 ? 4096 : 2048;
  if (family === 'opus') return v >= 4.5 ? 4096 : 1024;
  if (family === 'sonnet') return v >= 4.6 ? 2048 : 1024;
  return 1024;
}

interface Entry {
  expiresAt: number;
  ttlS: number;
}

/**
 * Anthropic API semantics: only prefixes ending at a cache_control breakpoint are written (when ≥ the model's
 * minimum); a read hits the longest live entry ending at a content-block end within `lookback` content blocks
 * before any breakpoint; entries live `ttlS` after their last use (5 m default, 1 h option).
 * Entries are keyed by (scope, chain hash of the last full block, token offset): exact for append-only prompts;
 * two prompts equal up to a block but different in the ≤ block_size−1 tokens after it would collide (approximation).
 */
export function anthropicPolicy(opts: { ttlS?: number; lookback?: number; minTokens?: number } = {}): CachePolicy {
  const ttl = opts.ttlS ?? 300;
  const lookback = opts.lookback ?? 20;
  const entries = new Map<string, Entry>();
  const expiredKeys = new Set<string>();
  const keyOf = (ns: string, req: SimRequest, p: number): string | null => {
    const k = Math.floor(p / req.blockSize);
    if (k === 0 || k > req.hashIds.length) return null;
    // Without content-block boundaries the offset inside the last block is not comparable across requests.
    return req.segmentEnds ? `${ns}|${req.hashIds[k - 1]}|${p}` : `${ns}|${req.hashIds[k - 1]}`;
  };
  const candidates = (req: SimRequest): number[] => {
    const bps = req.breakpoints ?? [];
    const out = new Set<number>();
    const ends = req.segmentEnds;
    for (const bp of bps) {
      if (ends && ends.length) {
        // Index of the last segment end ≤ bp, then up to `lookback` content blocks back.
        let hi = ends.length - 1;
        while (hi >= 0 && ends[hi]! > bp) hi--;
        out.add(bp);
        for (let i = hi; i >= 0 && hi - i < lookback; i--) out.add(ends[i]!);
      } else {
        // Content-block boundaries unknown (block-level sources): any block boundary before the breakpoint.
        out.add(bp);
        for (let p = Math.floor(bp / req.blockSize) * req.blockSize; p > 0; p -= req.blockSize) out.add(p);
      }
    }
    return [...out].sort((a, b) => b - a);
  };
  const min = (req: SimRequest) => opts.minTokens ?? minCacheableTokens(req.model);
  return {
    name: 'anthropic',
    lookup(ns, req, now): LookupResult {
      let reason: MissReason | undefined;
      for (const p of candidates(req)) {
        const key = keyOf(ns, req, p);
        if (key === null) continue;
        const e = entries.get(key);
        if (e && e.expiresAt > now) {
          e.expiresAt = now + e.ttlS;
          const blocks = Math.floor(p / req.blockSize);
          return { readTokens: req.segmentEnds ? p : blocks * req.blockSize, readBlocks: blocks };
        }
        if (e) {
          entries.delete(key);
          expiredKeys.add(key);
        }
        if (!reason && expiredKeys.has(key)) reason = 'ttl-expired';
      }
      if (!reason && (req.breakpoints ?? []).length === 0) reason = 'no-breakpoint';
      else if (!reason && Math.max(0, ...(req.breakpoints ?? [])) < min(req)) reason = 'below-minimum';
      return { readTokens: 0, readBlocks: 0, reason };
    },
    write(ns, req, now, read) {
      const m = min(req);
      let last = 0;
      const long = (req as SimRequest & { longTtlBreakpoints?: number[] }).longTtlBreakpoints;
      for (const p of req.breakpoints ?? []) {
        if (p < m) continue;
        const key = keyOf(ns, req, p);
        if (key === null) continue;
        // A `ttl: "1h"` marker keeps its entry at least an hour, whatever --ttl says.
        entries.set(key, { expiresAt: now + (long?.includes(p) ? Math.max(ttl, 3600) : ttl), ttlS: long?.includes(p) ? Math.max(ttl, 3600) : ttl });
        expiredKeys.delete(key);
        if (p > last) last = p;
      }
      return { createdTokens: Math.max(0, last - read.readTokens) };
    },
    size(now) {
      let n = 0;
      for (const [k, e] of entries) {
        if (e.expiresAt > now) n++;
        else {
          entries.delete(k);
          expiredKeys.add(k);
        }
      }
      return n;
    },
  };
}
