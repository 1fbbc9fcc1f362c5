import type { Usage } from '../../shared/anthropic.js';
import { NamespaceKeys, type CachePolicy, type LookupResult, type MissReason, type SimRequest } from './policy.js';

export type CacheScope = 'global' | 'conversation';
export const CACHE_SCOPES: readonly CacheScope[] = ['global', 'conversation'];

/**
 * When a request's blocks become readable: 'prefill-end' (the API writes when prefill ends: start + ttft, else
 * start + api_time, else an estimate) or 'start' (instantly — the idealised bound).
 */
export type WriteAt = 'prefill-end' | 'start';

export interface SimulateOptions {
  policy: CachePolicy;
  scope?: CacheScope;
  writeAt?: WriteAt;
  /** Prefill estimate (s) when a request has neither ttft nor api_time. Default 0.5 s + 1 s per 10k new tokens. */
  estimatePrefillS?: (req: SimRequest, newTokens: number) => number;
  /** Sample the policy's working-set size after every request (costs O(entries) per request for some policies). */
  trackWorkingSet?: boolean;
  /**
   * Pre-load prefixes the source says were cached before the trace began (`prewarmedTokens` on block-model
   * requests: an opaque tools+system prefix whose first API usage was a cache read). Default true.
   */
  prewarm?: boolean;
  /** Called every 1024 requests and at the end with the number simulated (progress bars). */
  onProgress?: (done: number) => void;
}

export interface MissExplanation {
  reason: MissReason;
  /** Block index at which the miss starts. */
  block: number;
}

export interface ApiComparison {
  contextTokens: number;
  readTokens: number;
  creationTokens: number;
  uncachedTokens: number;
  hitRate: number;
  /** Simulated hit fraction applied to the API's context (what the simulator predicts the API would report). */
  predictedReadTokens: number;
  /** (simulated − API) hit rate, percentage points. */
  errorPp: number;
}

export interface SimulatedRequest {
  id: string;
  conversationId: string;
  agentId: string;
  parentAgentId: string | null;
  t: number;
  /** Time (s) the request's cache write landed. */
  writtenAt: number;
  model: string | null;
  inputTokens: number;
  readTokens: number;
  creationTokens: number;
  uncachedTokens: number;
  hitRate: number;
  /** Seconds since the deepest block read was last used (null on a miss). */
  reuseDistanceS: number | null;
  miss: MissExplanation | null;
  api: ApiComparison | null;
  workingSetBlocks: number | null;
}

export interface SimulationTotals {
  requests: number;
  inputTokens: number;
  readTokens: number;
  creationTokens: number;
  uncachedTokens: number;
  /** Σread / Σinput (token-weighted). */
  hitRate: number;
  /** Requests with API usage, and the API's token-weighted hit rate over them (Σcache_read / Σcontext). */
  apiRequests: number;
  apiContextTokens: number;
  apiReadTokens: number;
  apiHitRate: number | null;
  /** Simulated hit rate over the same requests, weighted by the API's context sizes. */
  simHitRateOnApi: number | null;
  /** |simHitRateOnApi − apiHitRate| in percentage points. */
  accuracyPp: number | null;
  missReasons: Record<string, number>;
}

export interface SimulationResult {
  policy: string;
  scope: CacheScope;
  writeAt: WriteAt;
  requests: readonly SimulatedRequest[];
  overall: SimulationTotals;
  conversations: readonly (SimulationTotals & { conversationId: string })[];
  agents: readonly (SimulationTotals & { agentId: string; conversationId: string; parentAgentId: string | null })[];
}

function contextOf(u: Usage): number {
  return (u.input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0);
}

const defaultEstimate = (_r: SimRequest, newTokens: number) => 0.5 + newTokens / 10_000;

export function totals(rows: readonly SimulatedRequest[]): SimulationTotals {
  let input = 0,
    read = 0,
    created = 0,
    unc = 0,
    apiN = 0,
    apiCtx = 0,
    apiRead = 0,
    simW = 0;
  const reasons: Record<string, number> = {};
  for (const r of rows) {
    input += r.inputTokens;
    read += r.readTokens;
    created += r.creationTokens;
    unc += r.uncachedTokens;
    if (r.miss) reasons[r.miss.reason] = (reasons[r.miss.reason] ?? 0) + 1;
    if (r.api && r.api.contextTokens > 0) {
      apiN++;
      apiCtx += r.api.contextTokens;
      apiRead += r.api.readTokens;
      simW += r.api.predictedReadTokens;
    }
  }
  const apiHit = apiCtx > 0 ? apiRead / apiCtx : null;
  const simOnApi = apiCtx > 0 ? simW / apiCtx : null;
  return Object.freeze({
    requests: rows.length,
    inputTokens: input,
    readTokens: read,
    creationTokens: created,
    uncachedTokens: unc,
    hitRate: input > 0 ? read / input : 0,
    apiRequests: apiN,
    apiContextTokens: apiCtx,
    apiReadTokens: apiRead,
    apiHitRate: apiHit,
    simHitRateOnApi: simOnApi,
    accuracyPp: apiHit !== null && simOnApi !== null ? Math.abs(simOnApi - apiHit) * 100 : null,
    missReasons: reasons,
  });
}

/**
 * Replays block requests through a cache policy in time order. Each request looks the cache up at its start and
 * writes its blocks when its prefill ends (or at start with writeAt='start'), so concurrent requests sent before
 * another's prefill ended miss ('in-flight'). Pure: arrays in, frozen result out.
 */
export function simulate(input: readonly SimRequest[], opts: SimulateOptions): SimulationResult {
  const policy = opts.policy;
  const scope = opts.scope ?? 'global';
  const writeAt = opts.writeAt ?? 'prefill-end';
  const estimate = opts.estimatePrefillS ?? defaultEstimate;
  const order = input.map((r, i) => ({ r, i })).sort((a, b) => a.r.t - b.r.t || a.i - b.i);
  const keys = new NamespaceKeys();
  const written = new Set<number>();
  const sent = new Set<number>();
  const lastAccess = new Map<number, number>();
  const prevOfAgent = new Map<string, number[]>();
  const pending: { at: number; seq: number; ns: string; r: SimRequest; read: LookupResult; out: SimulatedRequest }[] = [];
  const out: SimulatedRequest[] = [];
  let seq = 0;
  const granularity = policy.name === 'anthropic' ? 1 : 0;

  const doWrite = (p: (typeof pending)[number]) => {
    const w = policy.write(p.ns, p.r, p.at, p.read);
    p.out.creationTokens = Math.min(w.createdTokens, p.r.inputTokens - p.out.readTokens);
    p.out.uncachedTokens = p.r.inputTokens - p.out.readTokens - p.out.creationTokens;
    for (const id of p.r.hashIds) {
      const k = keys.key(p.ns, id);
      written.add(k);
      lastAccess.set(k, p.at);
    }
  };
  const flush = (now: number) => {
    while (pending.length && pending[0]!.at <= now) doWrite(pending.shift()!);
  };

  if (opts.prewarm ?? true) {
    const done = new Set<string>();
    const t0 = order[0]?.r.t ?? 0;
    for (const { r } of order) {
      const warm = (r as SimRequest & { prewarmedTokens?: number }).prewarmedTokens ?? 0;
      const k = Math.floor(warm / r.blockSize);
      if (k <= 0) continue;
      const ns = scope === 'global' ? '' : r.conversationId;
      const key = ns + '|' + r.hashIds[k - 1];
      if (done.has(key)) continue;
      done.add(key);
      const synthetic: SimRequest = { ...r, id: r.id + ':prewarm', hashIds: r.hashIds.slice(0, k), inputTokens: warm, breakpoints: [warm], segmentEnds: r.segmentEnds ? [warm] : undefined };
      policy.write(ns, synthetic, t0, { readTokens: 0, readBlocks: 0 });
      for (const id of synthetic.hashIds) {
        written.add(keys.key(ns, id));
        lastAccess.set(keys.key(ns, id), t0);
      }
    }
  }

  let simulated = 0;
  for (const { r } of order) {
    if ((++simulated & 1023) === 0) opts.onProgress?.(simulated);
    const now = r.t;
    flush(now);
    const ns = scope === 'global' ? '' : r.conversationId;
    const read = policy.lookup(ns, r, now);
    const n = r.hashIds.length;
    let idealW = 0;
    while (idealW < n && written.has(keys.key(ns, r.hashIds[idealW]!))) idealW++;
    let idealS = idealW;
    while (idealS < n && sent.has(keys.key(ns, r.hashIds[idealS]!))) idealS++;
    const rb = read.readBlocks;
    let miss: MissExplanation | null = null;
    if (idealW - rb > granularity && read.reason) miss = { reason: read.reason, block: rb };
    else if (idealW - rb > granularity) miss = { reason: granularity ? 'no-breakpoint' : 'evicted', block: rb };
    else if (idealS > idealW && idealS - rb > granularity) miss = { reason: 'in-flight', block: rb };
    else {
      const prev = prevOfAgent.get(r.agentId);
      if (prev) {
        let k = 0;
        const lim = Math.min(prev.length, n);
        while (k < lim && prev[k] === r.hashIds[k]) k++;
        if (k < lim && rb <= k + granularity) miss = { reason: 'prefix-changed', block: k };
      }
      if (!miss && rb === 0 && idealS === 0 && n > 0) miss = { reason: 'cold', block: 0 };
    }
    let reuse: number | null = null;
    if (rb > 0) {
      const last = lastAccess.get(keys.key(ns, r.hashIds[rb - 1]!));
      if (last !== undefined) reuse = Math.max(0, now - last);
    }
    for (let i = 0; i < n; i++) {
      const k = keys.key(ns, r.hashIds[i]!);
      sent.add(k);
      if (i < rb) lastAccess.set(k, now);
    }
    prevOfAgent.set(r.agentId, r.hashIds);
    const readTokens = Math.min(read.readTokens, r.inputTokens);
    const row: SimulatedRequest = {
      id: r.id,
      conversationId: r.conversationId,
      agentId: r.agentId,
      parentAgentId: r.parentAgentId,
      t: r.t,
      writtenAt: now,
      model: r.model,
      inputTokens: r.inputTokens,
      readTokens,
      creationTokens: 0,
      uncachedTokens: r.inputTokens - readTokens,
      hitRate: r.inputTokens > 0 ? readTokens / r.inputTokens : 0,
      reuseDistanceS: reuse,
      miss,
      api: null,
      workingSetBlocks: null,
    };
    if (r.usage) {
      const ctx = contextOf(r.usage);
      if (ctx > 0) {
        const apiHit = r.usage.cache_read_input_tokens / ctx;
        row.api = {
          contextTokens: ctx,
          readTokens: r.usage.cache_read_input_tokens ?? 0,
          creationTokens: r.usage.cache_creation_input_tokens ?? 0,
          uncachedTokens: r.usage.input_tokens ?? 0,
          hitRate: apiHit,
          predictedReadTokens: row.hitRate * ctx,
          errorPp: (row.hitRate - apiHit) * 100,
        };
      }
    }
    const newTokens = r.inputTokens - readTokens;
    const delay = writeAt === 'start' ? 0 : (r.ttft ?? r.apiTime ?? estimate(r, newTokens));
    row.writtenAt = now + Math.max(0, delay);
    const p = { at: row.writtenAt, seq: seq++, ns, r, read, out: row };
    if (delay <= 0) doWrite(p);
    else {
      let i = pending.length;
      while (i > 0 && (pending[i - 1]!.at > p.at || (pending[i - 1]!.at === p.at && pending[i - 1]!.seq > p.seq))) i--;
      pending.splice(i, 0, p);
    }
    if (opts.trackWorkingSet) row.workingSetBlocks = policy.size(now);
    out.push(row);
  }
  flush(Infinity);
  for (const row of out) Object.freeze(row);

  const byConv = new Map<string, SimulatedRequest[]>();
  const byAgent = new Map<string, SimulatedRequest[]>();
  for (const row of out) {
    (byConv.get(row.conversationId) ?? byConv.set(row.conversationId, []).get(row.conversationId)!).push(row);
    (byAgent.get(row.agentId) ?? byAgent.set(row.agentId, []).get(row.agentId)!).push(row);
  }
  return Object.freeze({
    policy: policy.name,
    scope,
    writeAt,
    requests: Object.freeze(out),
    overall: totals(out),
    conversations: Object.freeze([...byConv].map(([conversationId, rows]) => Object.freeze({ conversationId, ...totals(rows) }))),
    agents: Object.freeze(
      [...byAgent].map(([agentId, rows]) =>
        Object.freeze({ agentId, conversationId: rows[0]!.conversationId, parentAgentId: rows[0]!.parentAgentId, ...totals(rows) }),
      ),
    ),
  });
}
