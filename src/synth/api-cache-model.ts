import { createHash, type Hash } from 'node:crypto';
import type { MessagesRequest, Usage } from '../shared/anthropic.js';
import { promptSegments } from '../analyze/normalize.js';
import type { Tokenizer } from '../analyze/tokenizers/tokenizer.js';

/**
 * The synthetic generator's own MODEL of the Anthropic prompt cache. It produces the usage numbers written into
 * synthetic rows; they are simulated, not measurements. Rules (each mirrors an observed property of the API):
 *
 * - The prompt is serialised tools → system → messages (src/analyze/normalize.ts promptSegments, which drops
 *   the per-conversation billing line and ignores cache_control positions), tokens counted with `tokenizer`.
 *   The cache key of a prefix also includes the model (caches are per model).
 * - Entries are written only at cache_control breakpoints, and only once the request's prefill has ended
 *   (`commit(…, prefillEndMs)`), so requests sent before that moment — e.g. sub-agents fanned out in the same
 *   second — all miss. Entries are shared by every session (the billing line is not part of the key).
 * - A request reads the longest cached prefix (at any earlier breakpoint position) that was written at or before
 *   its send time and has not expired; a read refreshes the entry's TTL (default 5 minutes).
 * - cache_creation = tokens up to the request's last breakpoint minus the tokens read (when that prefix reaches
 *   `minCacheableTokens`); input = the rest. input + cache_read + cache_creation = context tokens, always.
 */
export interface ApiCacheModelOptions {
  tokenizer: Tokenizer;
  ttlMs?: number;
  minCacheableTokens?: number;
}

export interface CacheLookup {
  contextTokens: number;
  usage: Omit<Usage, 'output_tokens'>;
  /** Prefix keys of this request's breakpoints (with their token positions), for `commit`. */
  breakpoints: { key: string; tokens: number }[];
}

interface Entry {
  writtenAtMs: number;
  expiresAtMs: number;
}

export class ApiCacheModel {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly minTokens: number;
  constructor(private readonly opts: ApiCacheModelOptions) {
    this.ttlMs = opts.ttlMs ?? 5 * 60_000;
    this.minTokens = opts.minCacheableTokens ?? 1024;
  }

  /** Usage split for `body` sent at `atMs` (refreshes the TTL of the entry it reads). */
  lookup(body: MessagesRequest, atMs: number): CacheLookup {
    const segs = promptSegments(body);
    const h: Hash = createHash('sha1').update('model:' + body.model + '\u0000');
    let tokens = 0;
    let hitTokens = 0;
    let hitKey: string | undefined;
    let lastBreakpointTokens = 0;
    const breakpoints: { key: string; tokens: number }[] = [];
    for (const s of segs) {
      h.update(s.kind + '\u0000' + s.text + '\u0001');
      tokens += this.opts.tokenizer.count(s.text);
      const key = h.copy().digest('hex');
      const e = this.entries.get(key);
      if (e && e.writtenAtMs <= atMs && e.expiresAtMs > atMs) {
        hitTokens = tokens;
        hitKey = key;
      }
      if (s.cacheControl) {
        lastBreakpointTokens = tokens;
        breakpoints.push({ key, tokens });
      }
    }
    if (hitKey) {
      const e = this.entries.get(hitKey)!;
      e.expiresAtMs = Math.max(e.expiresAtMs, atMs + this.ttlMs);
    }
    const creation = lastBreakpointTokens >= this.minTokens ? Math.max(0, lastBreakpointTokens - hitTokens) : 0;
    return {
      contextTokens: tokens,
      usage: {
        input_tokens: tokens - hitTokens - creation,
        cache_read_input_tokens: hitTokens,
        cache_creation_input_tokens: creation,
      },
      breakpoints: breakpoints.filter((b) => b.tokens >= this.minTokens),
    };
  }

  /** Writes the request's breakpoint prefixes, visible from `prefillEndMs` on. */
  commit(lookup: CacheLookup, prefillEndMs: number): void {
    for (const b of lookup.breakpoints) {
      const e = this.entries.get(b.key);
      if (e && e.expiresAtMs > prefillEndMs) {
        e.writtenAtMs = Math.min(e.writtenAtMs, prefillEndMs);
        e.expiresAtMs = Math.max(e.expiresAtMs, prefillEndMs + this.ttlMs);
      } else {
        this.entries.set(b.key, { writtenAtMs: prefillEndMs, expiresAtMs: prefillEndMs + this.ttlMs });
      }
    }
  }
}
