import { contextTokens, type Usage } from '../../shared/anthropic.js';
import type { BlockRequest, TraceRequest } from '../../shared/trace-record.js';
import { promptSegments } from '../normalize.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { HashIdAllocator, type ChainHasher } from './chain-hash.js';

/** Default block sizes: ours (64), vLLM's (16), Mooncake's (512). */
export const DEFAULT_BLOCK_SIZE = 64;

/** A block request as the block model produces it: plus where content blocks end (for the Anthropic lookback). */
export interface ModeledBlockRequest extends BlockRequest {
  /** Token offsets at which each prompt segment (tool, system block, content block) ends, ascending. */
  segmentEnds?: number[];
  /** Token offsets of breakpoints whose cache_control asked for `ttl: "1h"`. */
  longTtlBreakpoints?: number[];
  /** Tokens of tools / system in this prompt (our tokenizer; opaque prefix counted as system). */
  toolTokens?: number;
  systemTokens?: number;
  /** Input content-block types of the newest user turn (kv-cache-tester `input_types`). */
  inputTypes?: string[];
  outputTypes?: string[];
  /** Size of the opaque prefix standing in for tools+system the source lacked (0 when complete). */
  opaquePrefixTokens?: number;
  /**
   * Leading tokens of the opaque prefix the API already had cached before this trace began (another session wrote
   * them): inferred from the key's first API usage (min(prefix, cache_read)). 0 when unknown or cold.
   */
  prewarmedTokens?: number;
}

/** Agent linkage of one request (from source hints or the conversation index). */
export interface RequestLink {
  conversationId: string;
  agentId: string;
  parentAgentId: string | null;
}

export interface BlockModelOptions {
  tokenizer: Tokenizer;
  hasher: ChainHasher;
  blockSize?: number;
  /** Linkage; default: source hints, then session id. */
  linkOf?: (r: TraceRequest) => RequestLink;
  /** Shared id allocator (to keep ids stable across several calls). */
  ids?: HashIdAllocator;
}

export interface BlockModelResult {
  requests: ModeledBlockRequest[];
  blockSize: number;
  uniqueBlocks: number;
  /** Distinct segments tokenised (each once, content-addressed). */
  distinctSegments: number;
  /** Requests skipped (no JSON body, not /v1/messages). */
  skipped: number;
}

export function defaultLink(r: TraceRequest): RequestLink {
  const conv = r.hints?.conversationId ?? r.sessionId ?? 'conversation';
  const agent = r.hints?.agentId ?? conv;
  const parent = r.hints?.parentAgentId ?? (r.hints?.isSidechain && agent !== conv ? conv : null);
  return { conversationId: conv, agentId: agent, parentAgentId: parent === agent ? null : parent };
}

/** Deterministic pseudo-tokens for an opaque prefix (same key ⇒ same tokens ⇒ same hashes). */
function opaqueTokens(key: string, n: number): Uint32Array {
  let seed = 2166136261;
  for (let i = 0; i < key.length; i++) seed = Math.imul(seed ^ key.charCodeAt(i), 16777619) >>> 0;
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = (seed + Math.imul(i + 1, 2654435761)) >>> 0;
  return out;
}

/**
 * Turns content-level requests into block requests: serialise normalised (tools → system → messages), tokenise
 * each distinct segment once, split into `blockSize` blocks, chain-hash each FULL block, map hashes to sequential
 * ids (first-seen order). Partial trailing blocks are not cacheable and get no id.
 *
 * When a source lacks tools/system (bodyComplete=false, e.g. Claude Code JSONL), they are modelled as an opaque
 * prefix keyed by (main vs sub-agent, model): its size is inferred once per key from the first request with API
 * usage (API context − our message tokens) and shared by every agent with that key.
 */
export function buildBlockRequests(source: Iterable<TraceRequest>, opts: BlockModelOptions): BlockModelResult {
  const bs = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
  const ids = opts.ids ?? new HashIdAllocator();
  const linkOf = opts.linkOf ?? defaultLink;
  const tokCache = new Map<string, ArrayLike<number>>();
  const tok = (text: string): ArrayLike<number> => {
    let t = tokCache.get(text);
    if (!t) {
      t = opts.tokenizer.encode(text);
      tokCache.set(text, t);
    }
    return t;
  };
  const opaqueSize = new Map<string, number>();
  const opaqueWarm = new Map<string, number>();
  const out: ModeledBlockRequest[] = [];
  let t0: number | null = null;
  let skipped = 0;
  const lastEnd = new Map<string, number>(); // agent → end time (s) of its previous request
  let seq = 0;
  for (const r of source) {
    if (!r.body || !Array.isArray(r.body.messages) || (r.endpoint && !r.endpoint.startsWith('/v1/messages')) || r.endpoint.includes('count_tokens')) {
      skipped++;
      continue;
    }
    const link = linkOf(r);
    const segs = promptSegments(r.body);
    const parts: ArrayLike<number>[] = [];
    const segmentEnds: number[] = [];
    const breakpoints: number[] = [];
    const longTtl: number[] = [];
    let total = 0;
    let toolTokens = 0;
    let systemTokens = 0;
    let opaque = 0;
    let prewarmed = 0;
    if (!r.bodyComplete) {
      const key = `${r.hints?.isSidechain || link.parentAgentId ? 'subagent' : 'main'}:${r.model ?? ''}`;
      let size = opaqueSize.get(key);
      if (size === undefined) {
        const ctx = r.usage ? contextTokens(r.usage) : null;
        if (ctx !== null) {
          let msgTokens = 0;
          for (const s of segs) if (s.kind === 'message') msgTokens += tok(s.text).length;
          size = Math.max(0, ctx - msgTokens);
          opaqueSize.set(key, size);
          opaqueWarm.set(key, Math.min(size, r.usage?.cache_read_input_tokens ?? 0));
        }
      }
      if (size && size > 0) {
        opaque = size;
        prewarmed = opaqueWarm.get(key) ?? 0;
        parts.push(opaqueTokens(key, size));
        total += size;
        systemTokens += size;
        // The part another session had cached is a prefix of its own (a content-block end the API can hit).
        if (prewarmed > 0 && prewarmed < size) segmentEnds.push(prewarmed);
        segmentEnds.push(total);
        // Claude Code marks the end of the system prompt with cache_control.
        breakpoints.push(total);
      }
    }
    for (const s of segs) {
      const t = tok(s.text);
      parts.push(t);
      total += t.length;
      if (s.kind === 'tool') toolTokens += t.length;
      else if (s.kind === 'system') systemTokens += t.length;
      segmentEnds.push(total);
      if (s.cacheControl) {
        breakpoints.push(total);
        if (s.cacheTtl === '1h') longTtl.push(total);
      }
    }
    // Sources without cache_control markers (JSONL) or top-level automatic caching: Claude Code / the API mark the last block.
    const topLevelCc = Boolean((r.body as { cache_control?: unknown }).cache_control);
    if ((!r.bodyComplete || topLevelCc) && total > 0 && breakpoints[breakpoints.length - 1] !== total) breakpoints.push(total);
    // Hash full blocks across segment boundaries.
    const flat = new Uint32Array(total);
    let off = 0;
    for (const p of parts) {
      for (let i = 0; i < p.length; i++) flat[off + i] = p[i]! >>> 0;
      off += p.length;
    }
    const nFull = Math.floor(total / bs);
    const hashIds = new Array<number>(nFull);
    let parent = '';
    for (let b = 0; b < nFull; b++) {
      parent = opts.hasher.hashBlock(parent, flat, b * bs, (b + 1) * bs);
      hashIds[b] = ids.idOf(parent);
    }
    const startMs = r.startedAtMs ?? r.endedAtMs ?? null;
    if (t0 === null && startMs !== null) t0 = startMs;
    const t = startMs !== null && t0 !== null ? (startMs - t0) / 1000 : seq;
    const apiTime =
      r.durationMs !== null ? r.durationMs / 1000 : r.startedAtMs !== null && r.endedAtMs !== null ? (r.endedAtMs - r.startedAtMs) / 1000 : null;
    const prevEnd = lastEnd.get(link.agentId);
    const thinkTime = prevEnd === undefined ? 0 : Math.max(0, +(t - prevEnd).toFixed(3));
    lastEnd.set(link.agentId, t + (apiTime ?? 0));
    const msgs = r.body.messages;
    const lastUser = [...msgs].reverse().find((m) => m.role === 'user');
    const inputTypes = lastUser ? (typeof lastUser.content === 'string' ? ['text'] : [...new Set(lastUser.content.map((b) => b.type))]) : [];
    const outputTypes = r.response ? [...new Set(r.response.content.map((b) => b.type))] : [];
    out.push({
      id: r.id,
      requestId: r.id,
      conversationId: link.conversationId,
      agentId: link.agentId,
      parentAgentId: link.parentAgentId,
      t,
      model: r.model,
      inputTokens: total,
      outputTokens: r.usage?.output_tokens ?? 0,
      hashIds,
      blockSize: bs,
      breakpoints,
      ...(longTtl.length ? { longTtlBreakpoints: longTtl } : {}),
      segmentEnds,
      apiTime,
      thinkTime,
      ttft: r.ttftMs !== null ? r.ttftMs / 1000 : null,
      usage: r.usage,
      stopReason: r.stopReason,
      toolTokens,
      systemTokens,
      inputTypes,
      outputTypes,
      opaquePrefixTokens: opaque,
      prewarmedTokens: prewarmed,
    });
    seq++;
  }
  out.sort((a, b) => a.t - b.t);
  return { requests: out, blockSize: bs, uniqueBlocks: ids.size, distinctSegments: tokCache.size, skipped };
}
