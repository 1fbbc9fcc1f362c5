/**
 * The conversation explorer's data: one model for the live view (`trace capture --ui`, `trace view`) and for
 * `trace report`. Pure: facts, index, optional simulation and optional request bodies in; plain JSON out (the
 * page only draws). Bodies are shown as the source stored them (capture hashes secrets before storing).
 */
import type { RequestFacts } from '../../analyze/request-facts.js';
import type { ConversationIndex, AgentInfo } from '../../analyze/conversation-index.js';
import type { SimulatedRequest } from '../../analyze/cache/simulator.js';
import type { Tokenizer } from '../../analyze/tokenizers/tokenizer.js';
import type { TraceRequest } from '../../shared/trace-record.js';
import type { ContentBlock, MessageParam } from '../../shared/anthropic.js';
import { contextTokens } from '../../shared/anthropic.js';
import { shortIds } from '../../shared/short-id.js';

/**
 * Short display ids for requests: git-style prefixes; ids of the form `<file>:<message id>` (JSONL) shorten their
 * message id when those are unique.
 */
export function shortRequestIds(ids: readonly string[]): Map<string, string> {
  const tails = ids.map((id) => id.slice(id.lastIndexOf(':') + 1));
  if (ids.some((id) => id.includes(':')) && new Set(tails).size === ids.length) {
    const short = shortIds(tails, 10);
    return new Map(ids.map((id, i) => [id, short.get(tails[i]!)!]));
  }
  return shortIds(ids);
}

export type AgentRole = 'main' | 'sub-agent' | 'side';

export interface ExplorerAgent {
  id: string;
  /** Short, readable: `main`, `sub-3`, `side` (prefixed by a short conversation id when there are several). */
  label: string;
  role: AgentRole;
  parent: string | null;
  conversationId: string;
  depth: number;
  /** Request whose response spawned this agent. */
  spawnedBy: string | null;
}

export interface ExplorerRequest {
  id: string;
  short: string;
  agentId: string;
  /** Epoch ms. */
  start: number | null;
  end: number | null;
  ttftMs: number | null;
  status: number | null;
  /** pending: in flight (live view only). */
  state: 'pending' | 'complete' | 'error' | 'aborted';
  model: string | null;
  usage: { input: number; output: number; cacheRead: number; cacheCreation: number; context: number } | null;
  /** Simulated cache outcome (report only). */
  sim: { read: number; creation: number; uncached: number; input: number; hitRate: number; miss: string | null; predictedRead: number | null } | null;
  /** Gap since the agent's previous request ended: tool time (last message a tool_result) or a user pause. */
  gap: { ms: number; kind: 'tool' | 'user' | 'gap' } | null;
  error: string | null;
}

export interface ExplorerModel {
  live: boolean;
  agents: ExplorerAgent[];
  requests: ExplorerRequest[];
  /** Whether request bodies can be shown (false for block-level sources). */
  hasContent: boolean;
}

export interface ExplorerBlock {
  type: string;
  text?: string;
  name?: string;
  id?: string;
  input?: string;
  toolUseId?: string;
  isError?: boolean;
}

export interface ExplorerDetail {
  id: string;
  system: string[];
  messages: { role: string; blocks: ExplorerBlock[] }[];
  tools: { name: string; tokens: number | null }[];
  response: ExplorerBlock[];
  stopReason: string | null;
  error: string | null;
}

/** Agents in tree order (each parent followed by its sub-agents), with roles and short labels. */
export function explorerAgents(agents: readonly AgentInfo[]): ExplorerAgent[] {
  const convs = [...new Set(agents.map((a) => a.conversationId))];
  const shortConv = shortIds(convs);
  const children = new Map<string | null, AgentInfo[]>();
  const known = new Set(agents.map((a) => a.agentId));
  for (const a of agents) {
    const p = a.parentAgentId && known.has(a.parentAgentId) ? a.parentAgentId : null;
    if (!children.has(p)) children.set(p, []);
    children.get(p)!.push(a);
  }
  const out: ExplorerAgent[] = [];
  let subN = new Map<string, number>();
  const visit = (a: AgentInfo, depth: number) => {
    const role: AgentRole = a.isSide ? 'side' : a.isSubagent ? 'sub-agent' : 'main';
    let label: string;
    if (role === 'sub-agent') {
      const n = (subN.get(a.conversationId) ?? 0) + 1;
      subN.set(a.conversationId, n);
      label = `sub-${n}`;
    } else label = role;
    if (convs.length > 1) label = `${shortConv.get(a.conversationId)}/${label}`;
    out.push({ id: a.agentId, label, role, parent: a.parentAgentId, conversationId: a.conversationId, depth, spawnedBy: a.spawnedByRequestId });
    for (const c of children.get(a.agentId) ?? []) visit(c, depth + 1);
  };
  for (const a of children.get(null) ?? []) visit(a, 0);
  subN = new Map();
  return out;
}

export interface ExplorerInput {
  facts: readonly RequestFacts[];
  index: ConversationIndex;
  /** Simulated outcome per request id (report). */
  sim?: ReadonlyMap<string, SimulatedRequest>;
  /** Row states of the live view (default: complete, or error when the request failed). */
  states?: ReadonlyMap<string, ExplorerRequest['state']>;
  live?: boolean;
  hasContent?: boolean;
}

export function buildExplorerModel(input: ExplorerInput): ExplorerModel {
  const idx = new Map(input.index.requests.map((r) => [r.id, r]));
  const short = shortRequestIds(input.facts.map((f) => f.id));
  const lastEnd = new Map<string, number>();
  const requests: ExplorerRequest[] = [];
  const ordered = [...input.facts].sort((a, b) => (a.startedAtMs ?? 0) - (b.startedAtMs ?? 0));
  for (const f of ordered) {
    const ix = idx.get(f.id);
    if (!ix) continue;
    const u = f.usage;
    const s = input.sim?.get(f.id);
    const prevEnd = lastEnd.get(ix.agentId);
    const gapMs = prevEnd !== undefined && f.startedAtMs !== null ? f.startedAtMs - prevEnd : null;
    const end = f.endedAtMs ?? (f.startedAtMs !== null && f.apiTimeMs !== null ? f.startedAtMs + f.apiTimeMs : null);
    if (end !== null) lastEnd.set(ix.agentId, Math.max(end, lastEnd.get(ix.agentId) ?? end));
    const state = input.states?.get(f.id) ?? (f.error || (f.status !== null && f.status >= 400) ? 'error' : 'complete');
    requests.push({
      id: f.id,
      short: short.get(f.id) ?? f.id,
      agentId: ix.agentId,
      start: f.startedAtMs,
      end: state === 'pending' ? null : end,
      ttftMs: f.ttftMs,
      status: f.status,
      state,
      model: f.model,
      usage: u
        ? { input: u.input_tokens, output: u.output_tokens, cacheRead: u.cache_read_input_tokens, cacheCreation: u.cache_creation_input_tokens, context: contextTokens(u) }
        : null,
      sim: s
        ? { read: s.readTokens, creation: s.creationTokens, uncached: s.uncachedTokens, input: s.inputTokens, hitRate: s.hitRate, miss: s.miss?.reason ?? null, predictedRead: s.api?.predictedReadTokens ?? null }
        : null,
      gap: gapMs !== null && gapMs >= 0 ? { ms: gapMs, kind: f.lastUserToolResult ? 'tool' : 'user' } : null,
      error: f.error,
    });
  }
  return { live: input.live ?? false, agents: explorerAgents(input.index.agents), requests, hasContent: input.hasContent ?? true };
}

const MAX_TEXT = 20_000;
const clip = (s: string) => (s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}\n… (${s.length - MAX_TEXT} more characters)` : s);

function blockOf(b: ContentBlock | string): ExplorerBlock {
  if (typeof b === 'string') return { type: 'text', text: clip(b) };
  const x = b as unknown as Record<string, unknown>;
  switch (b.type) {
    case 'text':
      return { type: 'text', text: clip(String(x.text ?? '')) };
    case 'thinking':
      return { type: 'thinking', text: clip(String(x.thinking ?? '')) };
    case 'tool_use':
      return { type: 'tool_use', name: String(x.name ?? ''), id: String(x.id ?? ''), input: clip(JSON.stringify(x.input ?? {}, null, 1)) };
    case 'tool_result': {
      const c = x.content;
      const text = typeof c === 'string' ? c : Array.isArray(c) ? c.map((p) => (typeof p === 'object' && p && 'text' in p ? String((p as { text: unknown }).text) : `[${String((p as { type?: unknown })?.type ?? 'block')}]`)).join('\n') : '';
      return { type: 'tool_result', toolUseId: String(x.tool_use_id ?? ''), text: clip(text), isError: x.is_error === true };
    }
    default:
      return { type: String(b.type ?? 'block'), text: `[${String(b.type ?? 'block')}]` };
  }
}

const messageOf = (m: MessageParam) => ({ role: m.role, blocks: (typeof m.content === 'string' ? [m.content] : (m.content ?? [])).map(blockOf) });

/** The explorer's detail panel for one request: messages, tools (with our token counts), response. */
export function explorerDetail(r: TraceRequest, toolTokens: (json: string) => number | null): ExplorerDetail {
  const b = r.body;
  const sys = b?.system;
  return {
    id: r.id,
    system: typeof sys === 'string' ? [clip(sys)] : Array.isArray(sys) ? sys.map((s) => clip(String((s as { text?: unknown }).text ?? ''))) : [],
    messages: (b?.messages ?? []).map(messageOf),
    tools: (b?.tools ?? []).map((t) => ({ name: String((t as { name?: unknown }).name ?? '?'), tokens: toolTokens(JSON.stringify(t)) })),
    response: (r.response?.content ?? []).map(blockOf),
    stopReason: r.stopReason,
    error: r.error,
  };
}

/** Token counts of tool definitions, memoised by their JSON (every request repeats the same ~70 KB of tools). */
export function toolTokenCounter(tokenizer: Tokenizer | null): (json: string) => number | null {
  const memo = new Map<string, number>();
  return (json) => {
    if (!tokenizer) return null;
    let n = memo.get(json);
    if (n === undefined) memo.set(json, (n = tokenizer.count(json)));
    return n;
  };
}

/**
 * Details of many requests in a compact form for embedding: messages, tools and system texts that repeat across
 * requests (append-only conversations) are stored once in pools and referenced by index.
 */
export interface PooledDetails {
  messages: ExplorerDetail['messages'];
  tools: ExplorerDetail['tools'];
  system: string[];
  byId: Record<string, { m: number[]; t: number[]; s: number[]; response: ExplorerBlock[]; stopReason: string | null; error: string | null }>;
}

export function poolDetails(details: Iterable<ExplorerDetail>): PooledDetails {
  const out: PooledDetails = { messages: [], tools: [], system: [], byId: {} };
  const keys = { m: new Map<string, number>(), t: new Map<string, number>(), s: new Map<string, number>() };
  const ref = <T>(pool: T[], map: Map<string, number>, v: T) => {
    const k = JSON.stringify(v);
    let i = map.get(k);
    if (i === undefined) {
      i = pool.length;
      pool.push(v);
      map.set(k, i);
    }
    return i;
  };
  for (const d of details) {
    out.byId[d.id] = {
      m: d.messages.map((m) => ref(out.messages, keys.m, m)),
      t: d.tools.map((t) => ref(out.tools, keys.t, t)),
      s: d.system.map((s) => ref(out.system, keys.s, s)),
      response: d.response,
      stopReason: d.stopReason,
      error: d.error,
    };
  }
  return out;
}

/**
 * The explorer model of a block-level source (no facts, no content): agents and requests from the simulation.
 * Times are the source's relative seconds (shown from 0).
 */
export function explorerModelFromSimulation(sim: readonly SimulatedRequest[]): ExplorerModel {
  const short = shortRequestIds(sim.map((r) => r.id));
  const lastEnd = new Map<string, number>();
  const requests: ExplorerRequest[] = sim.map((r) => {
    const start = r.t * 1000;
    const end = Math.max(r.writtenAt * 1000, start);
    const prev = lastEnd.get(r.agentId);
    lastEnd.set(r.agentId, end);
    return {
      id: r.id, short: short.get(r.id) ?? r.id, agentId: r.agentId, start, end, ttftMs: null, status: null, state: 'complete', model: r.model,
      usage: r.api ? { input: r.api.uncachedTokens, output: 0, cacheRead: r.api.readTokens, cacheCreation: r.api.creationTokens, context: r.api.contextTokens } : null,
      sim: { read: r.readTokens, creation: r.creationTokens, uncached: r.uncachedTokens, input: r.inputTokens, hitRate: r.hitRate, miss: r.miss?.reason ?? null, predictedRead: r.api?.predictedReadTokens ?? null },
      gap: prev !== undefined && start >= prev ? { ms: start - prev, kind: 'gap' } : null, // block sources do not say which
      error: null,
    };
  });
  return { live: false, agents: simulationAgents(sim), requests, hasContent: false };
}

/** Agents of a simulation (block-level sources): roles from the parent links the source carries. */
export function simulationAgents(sim: readonly SimulatedRequest[]): ExplorerAgent[] {
  const agents = new Map<string, AgentInfo>();
  for (const r of sim) {
    if (agents.has(r.agentId)) continue;
    agents.set(r.agentId, {
      agentId: r.agentId, conversationId: r.conversationId, parentAgentId: r.parentAgentId, isSubagent: r.parentAgentId !== null, isSide: false,
      requests: 0, firstRequestId: r.id, spawnedByRequestId: null, models: [],
    });
  }
  return explorerAgents([...agents.values()]);
}
