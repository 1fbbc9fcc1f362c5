import type { RequestFacts } from './request-facts.js';
import { NO_PREFIX } from './prefix-chains.js';
import type { RequestKind, SideKind } from './classify.js';
import { deepFreeze } from '../shared/deep-freeze.js';
import type { ConversationIndexRow } from '../store/conversation-index-repo.js';

/**
 * Conversation index: groups requests into conversations and agents. Pure: facts in, frozen result out.
 *
 * Linking, per request in chronological order:
 * 1. hints (Claude Code JSONL, or a DB row matched to JSONL by message id via --jsonl-dir): the agent and
 *    conversation ids come from the JSONL (`linkedBy: 'jsonl'`).
 * 2. structural: the request's normalised messages extend (are prefixed by) the messages of the latest
 *    request of an existing agent → same agent, next turn (`linkedBy: 'prefix'`). The longest such prefix
 *    wins; ties prefer the same session id, the same system prompt, then the most recent agent.
 *    Equal messages (same length) are a resend: `duplicateOf` names the earlier request (the pair a broken
 *    stream produces — streaming then non-streaming — has `duplicateKind: 'stream-retry'`).
 * 3. a new agent: a sub-agent when its first user message carries the `prompt` of an Agent/Task tool_use in
 *    an earlier response (`linkedBy: 'spawn'`, parent = that agent); a sub-agent of the session's conversation
 *    when the session already has a main agent with a different system prompt / tool set (`linkedBy:
 *    'session'`); otherwise the main agent of a new conversation (`linkedBy: 'new'`).
 * Side requests (title / quota / count_tokens / other endpoints) join their session's conversation as agent
 * `<conv>/side` (no session: the latest conversation, or `unattributed`). `agents` counts exclude side agents.
 *
 * Ids: conversation id = the session id (suffixed `#2`, `#3`… when a session holds several conversations;
 * the first request id when there is no session); main agent id = the conversation id; structural sub-agents
 * `<conv>/sub-<n>`; JSONL-linked agents keep the JSONL ids (session id / agentId).
 * think_time = this request's start − the end of the previous request of the same agent (clamped at 0;
 * null for an agent's first request or unknown times); api_time = the request's duration.
 */
export type LinkedBy = 'jsonl' | 'prefix' | 'spawn' | 'session' | 'new' | 'side';

/**
 * One indexed request: the stored row shape (src/store/conversation-index-repo.ts, the one definition of the
 * fields) with the classification and linking fields narrowed to their literal types.
 */
export interface IndexedRequest extends ConversationIndexRow {
  kind: RequestKind;
  side: SideKind | null;
  linkedBy: LinkedBy;
}

export interface AgentInfo {
  agentId: string;
  conversationId: string;
  parentAgentId: string | null;
  isSubagent: boolean;
  isSide: boolean;
  requests: number;
  firstRequestId: string;
  spawnedByRequestId: string | null;
  models: string[];
}

export interface ConversationInfo {
  conversationId: string;
  sessionId: string | null;
  startMs: number | null;
  endMs: number | null;
  requests: number;
  agents: number;
  subagents: number;
  models: string[];
}

export interface ConversationIndex {
  requests: readonly IndexedRequest[];
  agents: readonly AgentInfo[];
  conversations: readonly ConversationInfo[];
}

interface AgentState {
  info: AgentInfo & { modelsSet: Set<string> };
  lastId: string;
  lastLen: number;
  lastHash: number;
  lastEndMs: number | null;
  lastStreaming: boolean | null;
  /** The agent's latest request completed with a tool call (Claude Code then runs the tool; it does not resend). */
  lastAnsweredWithToolUse: boolean;
  lastTurn: number;
  systemKey: number;
  toolsKey: number;
  sessionId: string | null;
  order: number;
}

type ConversationState = ConversationInfo & { modelsSet: Set<string>; mainAgent: string | null; subCount: number };

/** An Agent/Task tool call seen in a response; several calls may carry the same prompt (e.g. nested sub-agents). */
interface Spawn {
  requestId: string;
  agentId: string;
  conversationId: string;
  used: boolean;
}

/** The outcome of one linking strategy for one request. */
interface Link {
  agent: AgentState;
  linkedBy: LinkedBy;
  duplicateOf: string | null;
}

interface AgentFlags {
  isSubagent: boolean;
  isSide: boolean;
}

const MAIN: AgentFlags = { isSubagent: false, isSide: false };
const SUB: AgentFlags = { isSubagent: true, isSide: false };
const SIDE: AgentFlags = { isSubagent: false, isSide: true };

/** Chronological order (stable: source order breaks ties; unknown times keep their position after known ones). */
export function chronological<T extends { startedAtMs: number | null }>(xs: readonly T[]): T[] {
  return xs
    .map((x, i) => ({ x, i }))
    .sort((a, b) => (a.x.startedAtMs ?? Infinity) - (b.x.startedAtMs ?? Infinity) || a.i - b.i)
    .map((e) => e.x);
}

const tailKey = (len: number, hash: number) => `${len}:${hash}`;

/**
 * Builds a conversation index one request at a time (chronological order), one method per linking strategy:
 * `linkByHints` (JSONL), `linkSide`, `linkByPrefix` (structural), then `linkNewAgent` (spawn / session / new).
 */
class ConversationIndexBuilder {
  private readonly agents = new Map<string, AgentState>();
  /** Agents by the (length, hash) of their latest request's messages. */
  private readonly byTail = new Map<string, AgentState[]>();
  private readonly convs = new Map<string, ConversationState>();
  private readonly sessionConv = new Map<string, string>();
  private readonly usedConvIds = new Set<string>();
  /** Agent/Task tool calls by prompt. */
  private readonly spawns = new Map<string, Spawn[]>();
  private readonly toolUseToRequest = new Map<string, { requestId: string; agentId: string }>();
  private readonly out: IndexedRequest[] = [];
  private readonly outById = new Map<string, IndexedRequest>();
  private order = 0;
  private lastConv: string | undefined;

  add(f: RequestFacts): void {
    const link = this.link(f);
    this.record(f, link);
    this.update(f, link.agent);
  }

  build(factsIn: readonly RequestFacts[]): ConversationIndex {
    this.resolveLateSpawners(factsIn);
    const agentList: AgentInfo[] = [...this.agents.values()].map((a) => {
      const { modelsSet: _m, ...info } = a.info;
      return info;
    });
    const convList: ConversationInfo[] = [...this.convs.values()]
      .filter((c) => c.requests > 0)
      .map((c) => ({
        conversationId: c.conversationId,
        sessionId: c.sessionId,
        startMs: c.startMs,
        endMs: c.endMs,
        requests: c.requests,
        agents: c.agents,
        subagents: c.subagents,
        models: c.models,
      }));
    return deepFreeze({ requests: this.out, agents: agentList, conversations: convList });
  }

  private link(f: RequestFacts): Link {
    if (f.hints?.agentId) return this.linkByHints(f, f.hints.agentId);
    if (f.side) return this.linkSide(f);
    if (f.messageCount > 0) return this.linkByPrefix(f) ?? this.linkNewAgent(f);
    const id = this.newConversation(f);
    return { agent: this.newAgent(id, id, null, f, MAIN, null), linkedBy: 'new', duplicateOf: null };
  }

  /** 1. JSONL-provided linkage. */
  private linkByHints(f: RequestFacts, agentId: string): Link {
    const hints = f.hints!;
    const n = f.messageCount;
    const convId = hints.conversationId ?? f.sessionId ?? agentId;
    this.ensureConversation(convId, f);
    const existing = this.agents.get(agentId);
    if (existing) {
      const resend = n > 0 && existing.lastLen === n && f.prefixTail === existing.lastHash;
      return { agent: existing, linkedBy: 'jsonl', duplicateOf: resend ? existing.lastId : null };
    }
    const isSub = Boolean(hints.parentAgentId) || hints.isSidechain === true;
    const spawner = hints.spawnedByToolUseId ? this.toolUseToRequest.get(hints.spawnedByToolUseId) : undefined;
    const parent = hints.parentAgentId ?? (isSub ? (this.convs.get(convId)?.mainAgent ?? null) : null);
    const agent = this.newAgent(agentId, convId, parent, f, { isSubagent: isSub, isSide: false }, spawner?.requestId ?? null);
    return { agent, linkedBy: 'jsonl', duplicateOf: null };
  }

  /**
   * A side request joins its session's conversation; without a session, the latest conversation (or
   * `unattributed` before any).
   */
  private linkSide(f: RequestFacts): Link {
    let convId = f.sessionId ? this.sessionConv.get(f.sessionId) : undefined;
    if (!convId && f.sessionId) convId = this.newConversation(f);
    if (!convId) convId = this.lastConv ?? 'unattributed';
    if (convId === 'unattributed') this.ensureConversation(convId, f);
    const sideId = `${convId}/side`;
    const agent = this.agents.get(sideId) ?? this.newAgent(sideId, convId, this.convs.get(convId)?.mainAgent ?? null, f, SIDE, null);
    return { agent, linkedBy: 'side', duplicateOf: null };
  }

  /** 2. structural: the longest prefix among agents' latest requests (undefined when none fits). */
  private linkByPrefix(f: RequestFacts): Link | undefined {
    const n = f.messageCount;
    for (let k = n, h = f.prefixTail; k >= 1; k--, h = k >= 1 ? f.chains.parent(h) : NO_PREFIX) {
      const cands = this.byTail.get(tailKey(k, h));
      if (!cands || cands.length === 0) continue;
      const best = this.bestCandidate(cands, f);
      const sameLength = k === n && best.lastLen === n;
      if (sameLength && (best.systemKey !== f.systemKey || best.toolsKey !== f.toolsKey || best.lastAnsweredWithToolUse)) {
        // Same messages, but under another system prompt / tool set, or after a completed tool call (which the
        // client runs instead of resending): not a resend but a different agent (e.g. a nested sub-agent given
        // the same prompt) — fall through to new-agent detection.
        return undefined;
      }
      return { agent: best, linkedBy: 'prefix', duplicateOf: sameLength ? best.lastId : null };
    }
    return undefined;
  }

  /** Ties prefer the same session id, the same system prompt, the same tools, then the most recent agent. */
  private bestCandidate(cands: readonly AgentState[], f: RequestFacts): AgentState {
    const score = (a: AgentState) =>
      (a.sessionId !== null && a.sessionId === f.sessionId ? 4 : 0) + (a.systemKey === f.systemKey ? 2 : 0) + (a.toolsKey === f.toolsKey ? 1 : 0);
    let best = cands[0]!;
    let bestScore = score(best);
    for (let i = 1; i < cands.length; i++) {
      const a = cands[i]!;
      const s = score(a);
      if (s > bestScore || (s === bestScore && a.order > best.order)) {
        best = a;
        bestScore = s;
      }
    }
    return best;
  }

  /** 3. a new agent: a spawned sub-agent, a sub-agent of the session's conversation, or a new conversation. */
  private linkNewAgent(f: RequestFacts): Link {
    const spawn = this.findSpawn(f);
    if (spawn) {
      spawn.used = true;
      const c = this.convs.get(spawn.conversationId)!;
      c.subCount++;
      const agent = this.newAgent(`${spawn.conversationId}/sub-${c.subCount}`, spawn.conversationId, spawn.agentId, f, SUB, spawn.requestId);
      return { agent, linkedBy: 'spawn', duplicateOf: null };
    }
    return this.linkBySession(f);
  }

  /** The session's conversation: a sub-agent when its main agent has another system prompt / tool set. */
  private linkBySession(f: RequestFacts): Link {
    const convId = f.sessionId ? this.sessionConv.get(f.sessionId) : undefined;
    const conv = convId ? this.convs.get(convId) : undefined;
    const main = conv ? this.agents.get(conv.mainAgent ?? '') : undefined;
    if (convId && conv && main && (main.systemKey !== f.systemKey || main.toolsKey !== f.toolsKey)) {
      conv.subCount++;
      const agent = this.newAgent(`${convId}/sub-${conv.subCount}`, convId, main.info.agentId, f, SUB, null);
      return { agent, linkedBy: 'session', duplicateOf: null };
    }
    if (convId && conv && !main && conv.mainAgent === null) {
      // The session's conversation so far holds only side requests (e.g. the title came first).
      return { agent: this.newAgent(convId, convId, null, f, MAIN, null), linkedBy: 'new', duplicateOf: null };
    }
    const id = this.newConversation(f);
    return { agent: this.newAgent(id, id, null, f, MAIN, null), linkedBy: 'new', duplicateOf: null };
  }

  /** An unused spawn whose prompt is one of the first user texts, else one (≥ 16 chars) contained in one. */
  private findSpawn(f: RequestFacts): Spawn | undefined {
    for (const t of f.firstUserTexts) {
      const s = unusedSpawn(this.spawns.get(t));
      if (s) return s;
    }
    for (const [p, list] of this.spawns) {
      const s = unusedSpawn(list);
      if (!s || p.length < 16) continue;
      if (f.firstUserTexts.some((t) => t.includes(p))) return s;
    }
    return undefined;
  }

  private record(f: RequestFacts, link: Link): void {
    const a = link.agent;
    const { duplicateOf } = link;
    const duplicateKind: IndexedRequest['duplicateKind'] = duplicateOf
      ? a.lastStreaming === true && f.isStreaming === false
        ? 'stream-retry'
        : 'resend'
      : null;
    const turnIndex = duplicateOf ? Math.max(0, a.lastTurn) : a.lastTurn + 1;
    const first = a.info.requests === 0;
    const thinkTimeMs =
      !first && !duplicateOf && f.startedAtMs !== null && a.lastEndMs !== null ? Math.max(0, f.startedAtMs - a.lastEndMs) : null;
    const parentRequestId = duplicateOf ? (this.outById.get(duplicateOf)?.parentRequestId ?? null) : first ? null : a.lastId;
    const r: IndexedRequest = {
      id: f.id,
      conversationId: a.info.conversationId,
      agentId: a.info.agentId,
      parentAgentId: a.info.parentAgentId,
      isSubagent: a.info.isSubagent,
      turnIndex,
      parentRequestId,
      spawnedByRequestId: first ? a.info.spawnedByRequestId : null,
      duplicateOf,
      duplicateKind,
      kind: f.kind,
      side: f.side,
      linkedBy: link.linkedBy,
      thinkTimeMs,
      apiTimeMs: f.apiTimeMs,
    };
    this.out.push(r);
    // The first request with an id wins lookups (ids are unique in practice).
    if (!this.outById.has(r.id)) this.outById.set(r.id, r);
  }

  /** Updates the agent and conversation after a request, and remembers its spawns and tool calls. */
  private update(f: RequestFacts, a: AgentState): void {
    const n = f.messageCount;
    const turnIndex = this.out[this.out.length - 1]!.turnIndex;
    if (!a.info.isSide) {
      this.removeTail(a);
      if (n >= a.lastLen || a.info.requests === 0) {
        a.lastLen = n;
        a.lastHash = n > 0 ? f.prefixTail : 0;
      }
      this.addTail(a);
    }
    a.lastId = f.id;
    a.lastEndMs = f.endedAtMs ?? a.lastEndMs;
    a.lastStreaming = f.isStreaming;
    a.lastAnsweredWithToolUse = f.responseToolUse && f.error === null && (f.status === null || f.status < 400);
    a.lastTurn = turnIndex;
    a.info.requests++;
    addModel(a.info, f.model);
    const c = this.convs.get(a.info.conversationId)!;
    if (!a.info.isSide) this.lastConv = c.conversationId;
    c.requests++;
    if (f.startedAtMs !== null) c.startMs = c.startMs === null ? f.startedAtMs : Math.min(c.startMs, f.startedAtMs);
    const end = f.endedAtMs ?? f.startedAtMs;
    if (end !== null) c.endMs = c.endMs === null ? end : Math.max(c.endMs, end);
    addModel(c, f.model);
    for (const s of f.spawns) {
      const list = this.spawns.get(s.prompt) ?? [];
      list.push({ requestId: f.id, agentId: a.info.agentId, conversationId: a.info.conversationId, used: false });
      this.spawns.set(s.prompt, list);
    }
    for (const t of f.responseToolUseIds) if (t) this.toolUseToRequest.set(t, { requestId: f.id, agentId: a.info.agentId });
  }

  /** JSONL agents whose spawner appeared later in time order (agent file read before the parent's response). */
  private resolveLateSpawners(factsIn: readonly RequestFacts[]): void {
    const factsById = new Map<string, RequestFacts>();
    for (const f of factsIn) if (!factsById.has(f.id)) factsById.set(f.id, f);
    for (const r of this.out) {
      if (r.linkedBy !== 'jsonl' || r.spawnedByRequestId || r.turnIndex !== 0 || !r.isSubagent) continue;
      const t = factsById.get(r.id)?.hints?.spawnedByToolUseId;
      const sp = t ? this.toolUseToRequest.get(t) : undefined;
      if (sp) r.spawnedByRequestId = sp.requestId;
    }
  }

  private removeTail(a: AgentState): void {
    if (a.lastLen === 0) return;
    const k = tailKey(a.lastLen, a.lastHash);
    const arr = this.byTail.get(k);
    if (!arr) return;
    const i = arr.indexOf(a);
    if (i >= 0) arr.splice(i, 1);
    if (arr.length === 0) this.byTail.delete(k);
  }

  private addTail(a: AgentState): void {
    if (a.lastLen === 0) return;
    const k = tailKey(a.lastLen, a.lastHash);
    let arr = this.byTail.get(k);
    if (!arr) this.byTail.set(k, (arr = []));
    arr.push(a);
  }

  private addConversation(id: string, f: RequestFacts): void {
    this.usedConvIds.add(id);
    this.convs.set(id, {
      conversationId: id,
      sessionId: f.sessionId,
      startMs: null,
      endMs: null,
      requests: 0,
      agents: 0,
      subagents: 0,
      models: [],
      modelsSet: new Set(),
      mainAgent: null,
      subCount: 0,
    });
  }

  private newConversation(f: RequestFacts): string {
    const base = f.sessionId ?? f.hints?.conversationId ?? f.id;
    let id = base;
    for (let n = 2; this.usedConvIds.has(id); n++) id = `${base}#${n}`;
    this.addConversation(id, f);
    if (f.sessionId) this.sessionConv.set(f.sessionId, id);
    return id;
  }

  private ensureConversation(id: string, f: RequestFacts): void {
    if (this.convs.has(id)) return;
    this.addConversation(id, f);
    if (f.sessionId && !this.sessionConv.has(f.sessionId)) this.sessionConv.set(f.sessionId, id);
  }

  private newAgent(
    agentId: string,
    conversationId: string,
    parentAgentId: string | null,
    f: RequestFacts,
    flags: AgentFlags,
    spawnedByRequestId: string | null,
  ): AgentState {
    const a: AgentState = {
      info: {
        agentId,
        conversationId,
        parentAgentId,
        isSubagent: flags.isSubagent,
        isSide: flags.isSide,
        requests: 0,
        firstRequestId: f.id,
        spawnedByRequestId,
        models: [],
        modelsSet: new Set(),
      },
      lastId: f.id,
      lastLen: 0,
      lastHash: 0,
      lastEndMs: null,
      lastStreaming: null,
      lastAnsweredWithToolUse: false,
      lastTurn: -1,
      systemKey: f.systemKey,
      toolsKey: f.toolsKey,
      sessionId: f.sessionId,
      order: this.order++,
    };
    this.agents.set(agentId, a);
    const c = this.convs.get(conversationId)!;
    if (!flags.isSide) c.agents++;
    if (flags.isSubagent) c.subagents++;
    if (!flags.isSubagent && !flags.isSide && c.mainAgent === null) c.mainAgent = agentId;
    return a;
  }
}

const unusedSpawn = (list: Spawn[] | undefined) => list?.find((x) => !x.used);

function addModel(x: { models: string[]; modelsSet: Set<string> }, model: string | null): void {
  if (model && !x.modelsSet.has(model)) {
    x.modelsSet.add(model);
    x.models.push(model);
  }
}

export function buildConversationIndex(factsIn: readonly RequestFacts[]): ConversationIndex {
  const builder = new ConversationIndexBuilder();
  for (const f of chronological(factsIn)) builder.add(f);
  return builder.build(factsIn);
}
