import { contextTokens, type Usage } from '../../shared/anthropic.js';
import { NamespaceKeys, prefixIn, type CachePolicy, type LookupResult, type MissReason, type SimRequest } from './policy.js';

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
   * Keep the last access time of every block for `reuseDistanceS` (default true). Costs O(blocks) per request;
   * without it reuseDistanceS is null and a request only touches the blocks past its known prefix.
   */
  trackReuse?: boolean;
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

const defaultEstimate = (_r: SimRequest, newTokens: number) => 0.5 + newTokens / 10_000;

export function totals(rows: readonly SimulatedRequest[]): SimulationTotals {
  const t = { input: 0, read: 0, created: 0, uncached: 0, apiN: 0, apiCtx: 0, apiRead: 0, simOnApi: 0 };
  const reasons: Record<string, number> = {};
  for (const r of rows) {
    t.input += r.inputTokens;
    t.read += r.readTokens;
    t.created += r.creationTokens;
    t.uncached += r.uncachedTokens;
    if (r.miss) reasons[r.miss.reason] = (reasons[r.miss.reason] ?? 0) + 1;
    if (r.api && r.api.contextTokens > 0) {
      t.apiN++;
      t.apiCtx += r.api.contextTokens;
      t.apiRead += r.api.readTokens;
      t.simOnApi += r.api.predictedReadTokens;
    }
  }
  const apiHit = t.apiCtx > 0 ? t.apiRead / t.apiCtx : null;
  const simOnApi = t.apiCtx > 0 ? t.simOnApi / t.apiCtx : null;
  return Object.freeze({
    requests: rows.length,
    inputTokens: t.input,
    readTokens: t.read,
    creationTokens: t.created,
    uncachedTokens: t.uncached,
    hitRate: t.input > 0 ? t.read / t.input : 0,
    apiRequests: t.apiN,
    apiContextTokens: t.apiCtx,
    apiReadTokens: t.apiRead,
    apiHitRate: apiHit,
    simHitRateOnApi: simOnApi,
    accuracyPp: apiHit !== null && simOnApi !== null ? Math.abs(simOnApi - apiHit) * 100 : null,
    missReasons: reasons,
  });
}

interface PendingWrite {
  at: number;
  seq: number;
  ns: string;
  r: SimRequest;
  read: LookupResult;
  out: SimulatedRequest;
  /** Leading blocks already written when the request looked up (they need not be written again). */
  known: number;
}

/**
 * The state of one simulation run, one method per step of a request: `lookup` (the policy), `explainMiss`
 * (why fewer blocks were read than an ideal cache would have), `touch` (reuse distance, sent/accessed blocks),
 * `compareWithApi`, then `scheduleWrite` (at prefill end). Pending writes are kept sorted by time.
 */
class CacheSimulation {
  private readonly keys = new NamespaceKeys();
  private readonly written = new Set<number>();
  private readonly sent = new Set<number>();
  private readonly lastAccess = new Map<number, number>();
  private readonly prevOfAgent = new Map<string, number[]>();
  private readonly pending: PendingWrite[] = [];
  private seq = 0;
  /** Blocks of slack before a shortfall counts as a miss (the anthropic policy reads up to a breakpoint). */
  private readonly granularity: number;
  readonly out: SimulatedRequest[] = [];

  constructor(
    private readonly policy: CachePolicy,
    private readonly scope: CacheScope,
    private readonly writeAt: WriteAt,
    private readonly estimate: (r: SimRequest, newTokens: number) => number,
    private readonly trackWorkingSet: boolean,
    private readonly trackReuse: boolean,
  ) {
    this.granularity = policy.name === 'anthropic' ? 1 : 0;
  }

  private ns(r: SimRequest): string {
    return this.scope === 'global' ? '' : r.conversationId;
  }

  /** Marks blocks written; `from`: leading blocks known to be written already (skipped unless reuse is tracked). */
  private markWritten(ns: string, hashIds: readonly number[], at: number, from = 0): void {
    if (!this.trackReuse) {
      for (let i = from; i < hashIds.length; i++) this.written.add(this.keys.key(ns, hashIds[i]!));
      return;
    }
    for (const id of hashIds) {
      const k = this.keys.key(ns, id);
      this.written.add(k);
      this.lastAccess.set(k, at);
    }
  }

  /** Writes the prefix each request says was already warm (prewarmedTokens) at the start, once per prefix. */
  prewarm(order: readonly SimRequest[]): void {
    const done = new Set<string>();
    const t0 = order[0]?.t ?? 0;
    for (const r of order) {
      const warm = (r as SimRequest & { prewarmedTokens?: number }).prewarmedTokens ?? 0;
      const k = Math.floor(warm / r.blockSize);
      if (k <= 0) continue;
      const ns = this.ns(r);
      const key = ns + '|' + r.hashIds[k - 1];
      if (done.has(key)) continue;
      done.add(key);
      const synthetic: SimRequest = { ...r, id: r.id + ':prewarm', hashIds: r.hashIds.slice(0, k), inputTokens: warm, breakpoints: [warm], segmentEnds: r.segmentEnds ? [warm] : undefined };
      this.policy.write(ns, synthetic, t0, { readTokens: 0, readBlocks: 0 });
      this.markWritten(ns, synthetic.hashIds, t0);
    }
  }

  private doWrite(p: PendingWrite): void {
    const w = this.policy.write(p.ns, p.r, p.at, p.read);
    p.out.creationTokens = Math.min(w.createdTokens, p.r.inputTokens - p.out.readTokens);
    p.out.uncachedTokens = p.r.inputTokens - p.out.readTokens - p.out.creationTokens;
    this.markWritten(p.ns, p.r.hashIds, p.at, p.known);
  }

  /** Performs the writes due by `now`. */
  flush(now: number): void {
    while (this.pending.length && this.pending[0]!.at <= now) this.doWrite(this.pending.shift()!);
  }

  step(r: SimRequest): void {
    const now = r.t;
    this.flush(now);
    const ns = this.ns(r);
    const read = this.policy.lookup(ns, r, now);
    const idealW = prefixIn((id) => this.written.has(this.keys.key(ns, id)), r.hashIds);
    const idealS = prefixIn((id) => this.sent.has(this.keys.key(ns, id)), r.hashIds, idealW);
    const miss = this.explainMiss(r, read, idealW, idealS);
    const reuse = this.touch(ns, r, read.readBlocks, now, idealS);
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
    row.api = compareWithApi(row, r.usage);
    this.scheduleWrite(ns, r, read, row, idealW);
    if (this.trackWorkingSet) row.workingSetBlocks = this.policy.size(now);
    this.out.push(row);
  }

  /** Why the policy read fewer blocks than an ideal cache holding every written (or sent) block would have. */
  private explainMiss(r: SimRequest, read: LookupResult, idealW: number, idealS: number): MissExplanation | null {
    const g = this.granularity;
    const n = r.hashIds.length;
    const rb = read.readBlocks;
    if (idealW - rb > g && read.reason) return { reason: read.reason, block: rb };
    if (idealW - rb > g) return { reason: g ? 'no-breakpoint' : 'evicted', block: rb };
    if (idealS > idealW && idealS - rb > g) return { reason: 'in-flight', block: rb };
    const prev = this.prevOfAgent.get(r.agentId);
    if (prev) {
      let k = 0;
      const lim = Math.min(prev.length, n);
      while (k < lim && prev[k] === r.hashIds[k]) k++;
      if (k < lim && rb <= k + g) return { reason: 'prefix-changed', block: k };
    }
    if (rb === 0 && idealS === 0 && n > 0) return { reason: 'cold', block: 0 };
    return null;
  }

  /** Records the request's blocks as sent and its read blocks as accessed; returns the reuse distance (s). */
  private touch(ns: string, r: SimRequest, rb: number, now: number, knownSent: number): number | null {
    if (!this.trackReuse) {
      for (let i = knownSent; i < r.hashIds.length; i++) this.sent.add(this.keys.key(ns, r.hashIds[i]!));
      this.prevOfAgent.set(r.agentId, r.hashIds);
      return null;
    }
    let reuse: number | null = null;
    if (rb > 0) {
      const last = this.lastAccess.get(this.keys.key(ns, r.hashIds[rb - 1]!));
      if (last !== undefined) reuse = Math.max(0, now - last);
    }
    for (let i = 0; i < r.hashIds.length; i++) {
      const k = this.keys.key(ns, r.hashIds[i]!);
      this.sent.add(k);
      if (i < rb) this.lastAccess.set(k, now);
    }
    this.prevOfAgent.set(r.agentId, r.hashIds);
    return reuse;
  }

  /** The request's blocks are written when its prefill ends (ttft, else api time, else the estimate). */
  private scheduleWrite(ns: string, r: SimRequest, read: LookupResult, row: SimulatedRequest, known: number): void {
    const newTokens = r.inputTokens - row.readTokens;
    const delay = this.writeAt === 'start' ? 0 : (r.ttft ?? r.apiTime ?? this.estimate(r, newTokens));
    row.writtenAt = r.t + Math.max(0, delay);
    const p: PendingWrite = { at: row.writtenAt, seq: this.seq++, ns, r, read, out: row, known };
    if (delay <= 0) {
      this.doWrite(p);
      return;
    }
    const pending = this.pending;
    let i = pending.length;
    while (i > 0 && (pending[i - 1]!.at > p.at || (pending[i - 1]!.at === p.at && pending[i - 1]!.seq > p.seq))) i--;
    pending.splice(i, 0, p);
  }
}

/** The API's reported cache use for the request beside the simulated one (null without usage). */
function compareWithApi(row: SimulatedRequest, usage: Usage | null | undefined): ApiComparison | null {
  if (!usage) return null;
  const ctx = contextTokens(usage);
  if (ctx <= 0) return null;
  const apiHit = usage.cache_read_input_tokens / ctx;
  return {
    contextTokens: ctx,
    readTokens: usage.cache_read_input_tokens ?? 0,
    creationTokens: usage.cache_creation_input_tokens ?? 0,
    uncachedTokens: usage.input_tokens ?? 0,
    hitRate: apiHit,
    predictedReadTokens: row.hitRate * ctx,
    errorPp: (row.hitRate - apiHit) * 100,
  };
}

function groupBy(rows: readonly SimulatedRequest[], key: (r: SimulatedRequest) => string): Map<string, SimulatedRequest[]> {
  const m = new Map<string, SimulatedRequest[]>();
  for (const row of rows) {
    const k = key(row);
    const list = m.get(k);
    if (list) list.push(row);
    else m.set(k, [row]);
  }
  return m;
}

/**
 * Replays block requests through a cache policy in time order. Each request looks the cache up at its start and
 * writes its blocks when its prefill ends (or at start with writeAt='start'), so concurrent requests sent before
 * another's prefill ended miss ('in-flight'). Pure: arrays in, frozen result out.
 */
export function simulate(input: readonly SimRequest[], opts: SimulateOptions): SimulationResult {
  const scope = opts.scope ?? 'global';
  const writeAt = opts.writeAt ?? 'prefill-end';
  const order = input
    .map((r, i) => ({ r, i }))
    .sort((a, b) => a.r.t - b.r.t || a.i - b.i)
    .map((e) => e.r);
  const sim = new CacheSimulation(opts.policy, scope, writeAt, opts.estimatePrefillS ?? defaultEstimate, opts.trackWorkingSet ?? false, opts.trackReuse ?? true);
  if (opts.prewarm ?? true) sim.prewarm(order);
  let simulated = 0;
  for (const r of order) {
    if ((++simulated & 1023) === 0) opts.onProgress?.(simulated);
    sim.step(r);
  }
  sim.flush(Infinity);
  opts.onProgress?.(simulated);
  const out = sim.out;
  for (const row of out) Object.freeze(row);
  const byConv = groupBy(out, (r) => r.conversationId);
  const byAgent = groupBy(out, (r) => r.agentId);
  return Object.freeze({
    policy: opts.policy.name,
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
