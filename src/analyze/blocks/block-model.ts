import { contextTokens } from '../../shared/anthropic.js';
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
  const b = new BlockModelBuilder(opts);
  for (const r of source) b.add(r);
  return b.result();
}

/** buildBlockRequests one request at a time (for async sources: the request is not kept, only its blocks). */
export class BlockModelBuilder {
  private readonly st: BlockModelState;
  private readonly linkOf: (r: TraceRequest) => RequestLink;
  private readonly out: ModeledBlockRequest[] = [];
  private skipped = 0;

  constructor(opts: BlockModelOptions) {
    this.st = {
      bs: opts.blockSize ?? DEFAULT_BLOCK_SIZE,
      ids: opts.ids ?? new HashIdAllocator(),
      hasher: opts.hasher,
      tokenizer: opts.tokenizer,
      tokCache: new Map(),
      opaqueSize: new Map(),
      opaqueWarm: new Map(),
      t0: null,
      lastEnd: new Map(),
      seq: 0,
    };
    this.linkOf = opts.linkOf ?? defaultLink;
  }

  add(r: TraceRequest): void {
    if (!r.body || !Array.isArray(r.body.messages) || (r.endpoint && !r.endpoint.startsWith('/v1/messages')) || r.endpoint.includes('count_tokens')) {
      this.skipped++;
      return;
    }
    this.out.push(modelRequest(this.st, r, r.body, this.linkOf(r)));
    this.st.seq++;
  }

  result(): BlockModelResult {
    const st = this.st;
    return { requests: this.out.sort((a, b) => a.t - b.t), blockSize: st.bs, uniqueBlocks: st.ids.size, distinctSegments: st.tokCache.size, skipped: this.skipped };
  }
}

/** State carried across the requests of one buildBlockRequests call. */
interface BlockModelState {
  bs: number;
  ids: HashIdAllocator;
  hasher: ChainHasher;
  tokenizer: Tokenizer;
  /** Segment text → tokens (each distinct segment tokenised once). */
  tokCache: Map<string, ArrayLike<number>>;
  /** Opaque-prefix key → inferred size / pre-warmed leading tokens. */
  opaqueSize: Map<string, number>;
  opaqueWarm: Map<string, number>;
  t0: number | null;
  /** agent → end time (s) of its previous request */
  lastEnd: Map<string, number>;
  seq: number;
}

type RequestBody = NonNullable<TraceRequest['body']>;

/** The tokenised prompt of one request: its parts in order and the offsets the cache model needs. */
interface PromptLayout {
  parts: ArrayLike<number>[];
  segmentEnds: number[];
  breakpoints: number[];
  longTtl: number[];
  total: number;
  toolTokens: number;
  systemTokens: number;
  opaque: number;
  prewarmed: number;
}

function tok(st: BlockModelState, text: string): ArrayLike<number> {
  let t = st.tokCache.get(text);
  if (!t) {
    t = st.tokenizer.encode(text);
    st.tokCache.set(text, t);
  }
  return t;
}

function modelRequest(st: BlockModelState, r: TraceRequest, body: RequestBody, link: RequestLink): ModeledBlockRequest {
  const layout = layoutPrompt(st, r, body, link);
  const { total, breakpoints, longTtl, segmentEnds } = layout;
  const hashIds = hashFullBlocks(st, layout.parts, total);
  const { t, apiTime, thinkTime } = requestTiming(st, r, link);
  const msgs = body.messages;
  const lastUser = [...msgs].reverse().find((m) => m.role === 'user');
  const inputTypes = lastUser ? (typeof lastUser.content === 'string' ? ['text'] : [...new Set(lastUser.content.map((b) => b.type))]) : [];
  const outputTypes = r.response ? [...new Set(r.response.content.map((b) => b.type))] : [];
  return {
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
    blockSize: st.bs,
    breakpoints,
    ...(longTtl.length ? { longTtlBreakpoints: longTtl } : {}),
    segmentEnds,
    apiTime,
    thinkTime,
    ttft: r.ttftMs !== null ? r.ttftMs / 1000 : null,
    usage: r.usage,
    stopReason: r.stopReason,
    toolTokens: layout.toolTokens,
    systemTokens: layout.systemTokens,
    inputTypes,
    outputTypes,
    opaquePrefixTokens: layout.opaque,
    prewarmedTokens: layout.prewarmed,
  };
}

/** Tokenises the prompt (opaque prefix, then tools → system → messages) and records segment ends and breakpoints. */
function layoutPrompt(st: BlockModelState, r: TraceRequest, body: RequestBody, link: RequestLink): PromptLayout {
  const segs = promptSegments(body);
  const L: PromptLayout = {
    parts: [],
    segmentEnds: [],
    breakpoints: [],
    longTtl: [],
    total: 0,
    toolTokens: 0,
    systemTokens: 0,
    opaque: 0,
    prewarmed: 0,
  };
  if (!r.bodyComplete) addOpaquePrefix(st, r, link, segs, L);
  for (const s of segs) {
    const t = tok(st, s.text);
    L.parts.push(t);
    L.total += t.length;
    if (s.kind === 'tool') L.toolTokens += t.length;
    else if (s.kind === 'system') L.systemTokens += t.length;
    L.segmentEnds.push(L.total);
    if (s.cacheControl) {
      L.breakpoints.push(L.total);
      if (s.cacheTtl === '1h') L.longTtl.push(L.total);
    }
  }
  // Sources without cache_control markers (JSONL) or top-level automatic caching: Claude Code / the API mark the last block.
  const topLevelCc = Boolean((body as { cache_control?: unknown }).cache_control);
  if ((!r.bodyComplete || topLevelCc) && L.total > 0 && L.breakpoints[L.breakpoints.length - 1] !== L.total) L.breakpoints.push(L.total);
  return L;
}

/** Stands in for the tools+system a source lacked: an opaque prefix whose size is inferred once per key. */
function addOpaquePrefix(
  st: BlockModelState,
  r: TraceRequest,
  link: RequestLink,
  segs: ReturnType<typeof promptSegments>,
  L: PromptLayout,
): void {
  const key = `${r.hints?.isSidechain || link.parentAgentId ? 'subagent' : 'main'}:${r.model ?? ''}`;
  let size = st.opaqueSize.get(key);
  if (size === undefined) {
    const ctx = r.usage ? contextTokens(r.usage) : null;
    if (ctx !== null) {
      let msgTokens = 0;
      for (const s of segs) if (s.kind === 'message') msgTokens += tok(st, s.text).length;
      size = Math.max(0, ctx - msgTokens);
      st.opaqueSize.set(key, size);
      st.opaqueWarm.set(key, Math.min(size, r.usage?.cache_read_input_tokens ?? 0));
    }
  }
  if (size && size > 0) {
    L.opaque = size;
    L.prewarmed = st.opaqueWarm.get(key) ?? 0;
    L.parts.push(opaqueTokens(key, size));
    L.total += size;
    L.systemTokens += size;
    // The part another session had cached is a prefix of its own (a content-block end the API can hit).
    if (L.prewarmed > 0 && L.prewarmed < size) L.segmentEnds.push(L.prewarmed);
    L.segmentEnds.push(L.total);
    // Claude Code marks the end of the system prompt with cache_control.
    L.breakpoints.push(L.total);
  }
}

/** Chain-hashes every FULL block across segment boundaries and maps each hash to its sequential id. */
function hashFullBlocks(st: BlockModelState, parts: ArrayLike<number>[], total: number): number[] {
  const bs = st.bs;
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
    parent = st.hasher.hashBlock(parent, flat, b * bs, (b + 1) * bs);
    hashIds[b] = st.ids.idOf(parent);
  }
  return hashIds;
}

/** Start time relative to the first request (s), API time, and think time since the agent's previous request. */
function requestTiming(
  st: BlockModelState,
  r: TraceRequest,
  link: RequestLink,
): { t: number; apiTime: number | null; thinkTime: number } {
  const startMs = r.startedAtMs ?? r.endedAtMs ?? null;
  if (st.t0 === null && startMs !== null) st.t0 = startMs;
  const t = startMs !== null && st.t0 !== null ? (startMs - st.t0) / 1000 : st.seq;
  const apiTime =
    r.durationMs !== null ? r.durationMs / 1000 : r.startedAtMs !== null && r.endedAtMs !== null ? (r.endedAtMs - r.startedAtMs) / 1000 : null;
  const prevEnd = st.lastEnd.get(link.agentId);
  const thinkTime = prevEnd === undefined ? 0 : Math.max(0, +(t - prevEnd).toFixed(3));
  st.lastEnd.set(link.agentId, t + (apiTime ?? 0));
  return { t, apiTime, thinkTime };
}
