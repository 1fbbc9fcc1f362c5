import { contextTokens } from '../shared/anthropic.js';
import { deepFreeze } from '../shared/deep-freeze.js';
import type { TraceRequest } from '../shared/trace-record.js';
import type { Tokenizer } from './tokenizers/tokenizer.js';
import { TokenCounter } from './token-counter.js';
import { Interner, extractFacts, type RequestFacts } from './request-facts.js';
import { buildConversationIndex, type AgentInfo, type ConversationIndex, type ConversationInfo, type IndexedRequest } from './conversation-index.js';
import { distribution, type Distribution } from './percentiles.js';
import { REQUEST_KINDS, type RequestKind } from './classify.js';
import { jobMetrics, type JobSplit } from './job-split.js';
import { CostAccumulator, type CostSummary } from './cost.js';
import { DEFAULT_PRICES, type PriceTable } from './prices.js';

/**
 * `analyzeRequests(requests, options)`: the whole `trace analyze` computation as a pure function (requests in,
 * frozen result out, no IO) so `trace report` can reuse it. It streams: each request is reduced to its
 * RequestFacts (bodies dropped), then the conversation index and the summary are computed over the facts.
 *
 * MEASURED vs COUNTED: `tokens`, `cache`, per-model and per-agent token sums are the API's reported usage
 * (`input` = uncached input, `cacheRead`, `cacheCreation`, `output`; `context` = input + cacheRead +
 * cacheCreation). `breakdown` is OUR tokenizer's count of the normalised prompt; `calibration.ratio` =
 * API context / our count over requests that have both a complete body and usage, and `breakdown.scaled`
 * multiplies our numbers by it (an estimate of how the API's count splits across tools/system/messages).
 * PRICED: `cost` (and each conversation's `costUsd`) is the measured usage times the list prices of
 * `options.prices` (src/analyze/cost.ts has the formula); unpriced models are listed, never guessed.
 */
export interface AnalyzeOptions {
  /** Tokenizer for the breakdown; null/undefined = no breakdown (linking and usage only). */
  tokenizer?: Tokenizer | null;
  /** Restrict the summary to one conversation (linking still sees everything). */
  conversationId?: string;
  /** Shared counter (reuse the content-addressed cache across calls). */
  counter?: TokenCounter;
  /** Called after each request is reduced (progress bars). */
  onProgress?: (done: number) => void;
  /** Prices for `cost` (default: the dated table in prices.ts). */
  prices?: PriceTable;
}

export interface UsageTotals {
  input: number;
  cacheRead: number;
  cacheCreation: number;
  output: number;
  context: number;
}

export interface AnalysisResult {
  tokenizer: string | null;
  totals: {
    requests: number;
    conversations: number;
    agents: number;
    mainAgents: number;
    subagents: number;
    sideRequests: number;
    subagentRequests: number;
    errors: number;
    duplicates: number;
    byKind: Record<RequestKind, number>;
  };
  cache: {
    /** Requests whose usage shows cache_read_input_tokens > 0. */
    hits: number;
    /** Requests with API usage. */
    requestsWithUsage: number;
    /** hits / requestsWithUsage. */
    requestHitRate: number | null;
    /** cacheRead / context over API usage. */
    tokenHitRate: number | null;
  };
  tokens: UsageTotals;
  perModel: ({ model: string; requests: number; tokenHitRate: number | null } & UsageTotals)[];
  perAgent: ({ agentId: string; conversationId: string; parentAgentId: string | null; isSubagent: boolean; isSide: boolean; requests: number; models: string[] } & UsageTotals)[];
  timing: { ttftMs: Distribution; apiTimeMs: Distribution; thinkTimeMs: Distribution };
  /**
   * Recorded job split (src/analyze/job-split.ts): per session first start → last end, split into model time,
   * tool time (gaps before tool_result turns), user pause (gaps before new user text) and other gaps.
   */
  jobs: { total: JobSplit | null; sessions: ({ session: string } & JobSplit)[] };
  breakdown: {
    tokenizer: string;
    requestsCounted: number;
    total: number;
    tools: number;
    system: number;
    messages: number;
    byRoleBlock: Record<string, number>;
    /** Our count of response content (output side). */
    responseTokens: number;
    calibration: { requests: number; apiContext: number; ours: number; ratio: number | null };
    scaled: { total: number; tools: number; system: number; messages: number; byRoleBlock: Record<string, number> } | null;
    /** Distinct texts tokenised vs. lookups (the content-addressed cache at work). */
    uniqueTexts: number;
    cacheHits: number;
  } | null;
  biggestTools: { name: string; tokens: number; requests: number; totalTokens: number }[];
  /** Cost at list prices of the usage above, per model and total, and what caching saved. */
  cost: CostSummary;
  /** `costUsd`: priced cost of the conversation (null when none of its models is priced). */
  conversations: (ConversationInfo & UsageTotals & { tokenHitRate: number | null; costUsd: number | null })[];
}

function zero(): UsageTotals {
  return { input: 0, cacheRead: 0, cacheCreation: 0, output: 0, context: 0 };
}
function addUsage(t: UsageTotals, f: RequestFacts): void {
  const u = f.usage;
  if (!u) return;
  t.input += u.input_tokens;
  t.cacheRead += u.cache_read_input_tokens;
  t.cacheCreation += u.cache_creation_input_tokens;
  t.output += u.output_tokens;
  t.context += contextTokens(u);
}
const rate = (num: number, den: number): number | null => (den > 0 ? num / den : null);

/** The recorded job split of the selected requests (requests without both timestamps are left out). */
function recordedJobs(sel: readonly RequestFacts[], idx: Map<string, { conversationId: string; agentId: string }>): AnalysisResult['jobs'] {
  const items = [];
  for (const f of sel) {
    const r = idx.get(f.id);
    if (!r || f.startedAtMs === null || f.endedAtMs === null) continue;
    const gapKind = f.lastUserToolResult ? 'tool' : f.messageCount > 0 && !f.side ? 'user' : 'other';
    items.push({ session: r.conversationId, agent: r.agentId, startMs: f.startedAtMs, endMs: f.endedAtMs, gapKind } as const);
  }
  const m = jobMetrics(items);
  return { total: m.total, sessions: m.sessions };
}


/** Reduces requests to facts one at a time (for sync and async sources alike; bodies are not retained). */
export class FactsCollector {
  readonly counter: TokenCounter | null;
  readonly facts: RequestFacts[] = [];
  private readonly interner: Interner;
  constructor(private readonly options: AnalyzeOptions = {}) {
    this.counter = options.counter ?? (options.tokenizer ? new TokenCounter(options.tokenizer) : null);
    this.interner = new Interner(undefined, this.counter !== null);
  }
  add(r: TraceRequest): void {
    this.facts.push(extractFacts(r, { interner: this.interner, counter: this.counter ?? undefined }));
    this.options.onProgress?.(this.facts.length);
  }
  result(): { facts: RequestFacts[]; counter: TokenCounter | null } {
    return { facts: this.facts, counter: this.counter };
  }
}

/** Reduces requests to facts (streaming; bodies are not retained). */
export function collectFacts(requests: Iterable<TraceRequest>, options: AnalyzeOptions = {}): { facts: RequestFacts[]; counter: TokenCounter | null } {
  const c = new FactsCollector(options);
  for (const r of requests) c.add(r);
  return c.result();
}

export function analyzeRequests(requests: Iterable<TraceRequest>, options: AnalyzeOptions = {}): AnalysisResult {
  const { facts, counter } = collectFacts(requests, options);
  return summarize(facts, buildConversationIndex(facts), { ...options, counter: counter ?? undefined });
}

type ToolStats = Map<string, { tokens: number; requests: number; totalTokens: number }>;

/**
 * Our token breakdown over the selected requests that were counted, its calibration against the API's context
 * (requests with a complete body and usage) and the per-tool statistics.
 */
function summarizeBreakdown(sel: readonly RequestFacts[], counter: TokenCounter | undefined): { breakdown: AnalysisResult['breakdown']; toolStats: ToolStats } {
  const toolStats: ToolStats = new Map();
  const counted = sel.filter((f) => f.breakdown);
  if (counted.length === 0 || !counter) return { breakdown: null, toolStats };
  const b = { total: 0, tools: 0, system: 0, messages: 0, byRoleBlock: {} as Record<string, number> };
  let responseTokens = 0;
  let calReq = 0;
  let apiCtx = 0;
  let ours = 0;
  for (const f of counted) {
    const x = f.breakdown!;
    b.total += x.total;
    b.tools += x.tools;
    b.system += x.system;
    b.messages += x.messages;
    for (const [k, v] of Object.entries(x.byRoleBlock)) b.byRoleBlock[k] = (b.byRoleBlock[k] ?? 0) + v;
    responseTokens += f.responseTokens ?? 0;
    for (const [name, v] of Object.entries(x.perTool)) {
      let t = toolStats.get(name);
      if (!t) toolStats.set(name, (t = { tokens: 0, requests: 0, totalTokens: 0 }));
      t.tokens = Math.max(t.tokens, v);
      t.requests++;
      t.totalTokens += v;
    }
    if (f.bodyComplete && f.usage && x.total > 0) {
      const ctx = contextTokens(f.usage);
      if (ctx > 0) {
        calReq++;
        apiCtx += ctx;
        ours += x.total;
      }
    }
  }
  const ratio = ours > 0 ? apiCtx / ours : null;
  const breakdown: NonNullable<AnalysisResult['breakdown']> = {
    tokenizer: counter.tokenizer.name,
    requestsCounted: counted.length,
    ...b,
    responseTokens,
    calibration: { requests: calReq, apiContext: apiCtx, ours, ratio },
    scaled:
      ratio === null
        ? null
        : {
            total: Math.round(b.total * ratio),
            tools: Math.round(b.tools * ratio),
            system: Math.round(b.system * ratio),
            messages: Math.round(b.messages * ratio),
            byRoleBlock: Object.fromEntries(Object.entries(b.byRoleBlock).map(([k, v]) => [k, Math.round(v * ratio)])),
          },
    uniqueTexts: counter.size,
    cacheHits: counter.hits,
  };
  return { breakdown, toolStats };
}

/** Request counts of a selection: by kind, errors, duplicates, sub-agent and side requests, API cache hits. */
function countRequests(sel: readonly RequestFacts[], selIdx: readonly IndexedRequest[]) {
  const n = { byKind: Object.fromEntries(REQUEST_KINDS.map((k) => [k, 0])) as Record<RequestKind, number>, hits: 0, withUsage: 0, errors: 0, duplicates: 0, subagentRequests: 0, sideRequests: 0 };
  sel.forEach((f, i) => {
    const r = selIdx[i]!;
    n.byKind[f.kind]++;
    if (f.kind === 'error') n.errors++;
    if (f.side) n.sideRequests++;
    if (r.duplicateOf) n.duplicates++;
    if (r.isSubagent) n.subagentRequests++;
    if (f.usage) {
      n.withUsage++;
      if (f.usage.cache_read_input_tokens > 0) n.hits++;
    }
  });
  return n;
}

/** The summary over already-reduced facts and their index. */
export function summarize(facts: readonly RequestFacts[], index: ConversationIndex, options: AnalyzeOptions = {}): AnalysisResult {
  const idx = new Map(index.requests.map((r) => [r.id, r]));
  const prices = options.prices ?? DEFAULT_PRICES;
  const only = options.conversationId;
  const sel = facts.filter((f) => !only || idx.get(f.id)?.conversationId === only);
  const selIdx = sel.map((f) => idx.get(f.id)!);
  const agentIds = new Set(selIdx.map((r) => r.agentId));
  const agents: AgentInfo[] = index.agents.filter((a) => agentIds.has(a.agentId));
  const convs = index.conversations.filter((c) => !only || c.conversationId === only);

  const n = countRequests(sel, selIdx);
  const tokens = zero();
  const perModel = new Map<string, UsageTotals & { requests: number }>();
  const perAgent = new Map<string, UsageTotals & { requests: number }>();
  const perConv = new Map<string, UsageTotals>();
  const cost = new CostAccumulator();
  const convCost = new Map<string, CostAccumulator>();
  sel.forEach((f, i) => {
    const r = selIdx[i]!;
    addUsage(tokens, f);
    const m = f.model ?? '(unknown)';
    let pm = perModel.get(m);
    if (!pm) perModel.set(m, (pm = { ...zero(), requests: 0 }));
    pm.requests++;
    addUsage(pm, f);
    let pa = perAgent.get(r.agentId);
    if (!pa) perAgent.set(r.agentId, (pa = { ...zero(), requests: 0 }));
    pa.requests++;
    addUsage(pa, f);
    let pc = perConv.get(r.conversationId);
    if (!pc) perConv.set(r.conversationId, (pc = zero()));
    addUsage(pc, f);
    cost.add(f.model, f.usage);
    let cc = convCost.get(r.conversationId);
    if (!cc) convCost.set(r.conversationId, (cc = new CostAccumulator()));
    cc.add(f.model, f.usage);
  });

  const { breakdown, toolStats } = summarizeBreakdown(sel, options.counter);

  const result: AnalysisResult = {
    tokenizer: options.counter?.tokenizer.name ?? null,
    totals: {
      requests: sel.length,
      conversations: convs.filter((c) => c.agents > 0).length,
      agents: agents.filter((a) => !a.isSide).length,
      mainAgents: agents.filter((a) => !a.isSubagent && !a.isSide).length,
      subagents: agents.filter((a) => a.isSubagent).length,
      sideRequests: n.sideRequests,
      subagentRequests: n.subagentRequests,
      errors: n.errors,
      duplicates: n.duplicates,
      byKind: n.byKind,
    },
    cache: { hits: n.hits, requestsWithUsage: n.withUsage, requestHitRate: rate(n.hits, n.withUsage), tokenHitRate: rate(tokens.cacheRead, tokens.context) },
    tokens,
    perModel: [...perModel.entries()]
      .map(([model, t]) => ({ model, ...t, tokenHitRate: rate(t.cacheRead, t.context) }))
      .sort((a, b) => b.requests - a.requests || a.model.localeCompare(b.model)),
    perAgent: agents.map((a) => ({
      agentId: a.agentId,
      conversationId: a.conversationId,
      parentAgentId: a.parentAgentId,
      isSubagent: a.isSubagent,
      isSide: a.isSide,
      models: a.models,
      ...(perAgent.get(a.agentId) ?? { ...zero(), requests: 0 }),
    })),
    timing: {
      ttftMs: distribution(sel.map((f) => f.ttftMs)),
      apiTimeMs: distribution(sel.map((f) => f.apiTimeMs)),
      thinkTimeMs: distribution(selIdx.map((r) => r.thinkTimeMs)),
    },
    jobs: recordedJobs(sel, idx),
    breakdown,
    biggestTools: [...toolStats.entries()]
      .map(([name, t]) => ({ name, ...t }))
      .sort((a, b) => b.tokens - a.tokens || a.name.localeCompare(b.name))
      .slice(0, 15),
    cost: cost.summary(prices),
    conversations: convs.map((c) => {
      const u = perConv.get(c.conversationId) ?? zero();
      return { ...c, ...u, tokenHitRate: rate(u.cacheRead, u.context), costUsd: convCost.get(c.conversationId)?.summary(prices).total?.total ?? null };
    }),
  };
  return deepFreeze(result);
}
