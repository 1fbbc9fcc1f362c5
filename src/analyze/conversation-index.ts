import type { RequestFacts } from './request-facts.js';
import type { RequestKind, SideKind } from './classify.js';

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

export interface IndexedRequest {
  id: string;
  conversationId: string;
  agentId: string;
  parentAgentId: string | null;
  isSubagent: boolean;
  /** 0-based index of the request within its agent (a duplicate shares the original's index). */
  turnIndex: number;
  /** The previous request of the same agent (null for the first). */
  parentRequestId: string | null;
  /** For an agent's first request: the request whose response spawned it (Agent/Task tool_use). */
  spawnedByRequestId: string | null;
  duplicateOf: string | null;
  duplicateKind: 'stream-retry' | 'resend' | null;
  kind: RequestKind;
  side: SideKind | null;
  linkedBy: LinkedBy;
  thinkTimeMs: number | null;
  apiTimeMs: number | null;
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

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
}

/** Chronological order (stable: source order breaks ties; unknown times keep their position after known ones). */
export function chronological<T extends { startedAtMs: number | null }>(xs: readonly T[]): T[] {
  return xs
    .map((x, i) => ({ x, i }))
    .sort((a, b) => (a.x.startedAtMs ?? Infinity) - (b.x.startedAtMs ?? Infinity) || a.i - b.i)
    .map((e) => e.x);
}

export function buildConversationIndex(factsIn: readonly RequestFacts[]): ConversationIndex {
  const facts = chronological(factsIn);
  const agents = new Map<string, AgentState>();
  const byTail = new Map<string, AgentState[]>();
  const convs = new Map<string, ConversationInfo & { modelsSet: Set<string>; mainAgent: string | null; subCount: number }>();
  const sessionConv = new Map<string, string>();
  const usedConvIds = new Set<string>();
  type Spawn = { requestId: string; agentId: string; conversationId: string; used: boolean };
  /** Agent/Task tool calls by prompt; several calls may carry the same prompt (e.g. nested sub-agents). */
  const spawns = new Map<string, Spawn[]>();
  const unusedSpawn = (list: Spawn[] | undefined) => list?.find((x) => !x.used);
  const toolUseToRequest = new Map<string, { requestId: string; agentId: string }>();
  const out: IndexedRequest[] = [];
  let order = 0;
  let lastConv: string | undefined;

  const tailKey = (len: number, hash: number) => `${len}:${hash}`;
  const removeTail = (a: AgentState) => {
    if (a.lastLen === 0) return;
    const k = tailKey(a.lastLen, a.lastHash);
    const arr = byTail.get(k);
    if (!arr) return;
    const i = arr.indexOf(a);
    if (i >= 0) arr.splice(i, 1);
    if (arr.length === 0) byTail.delete(k);
  };
  const addTail = (a: AgentState) => {
    if (a.lastLen === 0) return;
    const k = tailKey(a.lastLen, a.lastHash);
    let arr = byTail.get(k);
    if (!arr) byTail.set(k, (arr = []));
    arr.push(a);
  };
  const addConversation = (id: string, f: RequestFacts) => {
    usedConvIds.add(id);
    convs.set(id, {
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
  };
  const newConversation = (f: RequestFacts): string => {
    const base = f.sessionId ?? f.hints?.conversationId ?? f.id;
    let id = base;
    for (let n = 2; usedConvIds.has(id); n++) id = `${base}#${n}`;
    addConversation(id, f);
    if (f.sessionId) sessionConv.set(f.sessionId, id);
    return id;
  };
  const ensureConversation = (id: string, f: RequestFacts) => {
    if (!convs.has(id)) {
      addConversation(id, f);
      if (f.sessionId && !sessionConv.has(f.sessionId)) sessionConv.set(f.sessionId, id);
    }
  };
  const newAgent = (
    agentId: string,
    conversationId: string,
    parentAgentId: string | null,
    f: RequestFacts,
    flags: { isSubagent: boolean; isSide: boolean },
    spawnedByRequestId: string | null,
  ): AgentState => {
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
      order: order++,
    };
    agents.set(agentId, a);
    const c = convs.get(conversationId)!;
    if (!flags.isSide) c.agents++;
    if (flags.isSubagent) c.subagents++;
    if (!flags.isSubagent && !flags.isSide && c.mainAgent === null) c.mainAgent = agentId;
    return a;
  };

  for (const f of facts) {
    const n = f.messageCount;
    let agent: AgentState | undefined;
    let linkedBy: LinkedBy = 'new';
    let duplicateOf: string | null = null;
    let duplicateKind: IndexedRequest['duplicateKind'] = null;
    let spawnedByRequestId: string | null = null;

    if (f.hints?.agentId) {
      // 1. JSONL-provided linkage.
      linkedBy = 'jsonl';
      const convId = f.hints.conversationId ?? f.sessionId ?? f.hints.agentId;
      ensureConversation(convId, f);
      agent = agents.get(f.hints.agentId);
      if (!agent) {
        const isSub = Boolean(f.hints.parentAgentId) || f.hints.isSidechain === true;
        const spawner = f.hints.spawnedByToolUseId ? toolUseToRequest.get(f.hints.spawnedByToolUseId) : undefined;
        spawnedByRequestId = spawner?.requestId ?? null;
        agent = newAgent(f.hints.agentId, convId, f.hints.parentAgentId ?? (isSub ? (convs.get(convId)?.mainAgent ?? null) : null), f, { isSubagent: isSub, isSide: false }, spawnedByRequestId);
      } else if (n > 0 && agent.lastLen === n && f.prefixHashes[n - 1] === agent.lastHash) {
        duplicateOf = agent.lastId;
      }
    } else if (f.side) {
      // A side request joins its session's conversation; without a session, the latest conversation (or
      // `unattributed` before any).
      let convId = f.sessionId ? sessionConv.get(f.sessionId) : undefined;
      if (!convId && f.sessionId) convId = newConversation(f);
      if (!convId) convId = lastConv ?? 'unattributed';
      if (convId === 'unattributed') ensureConversation(convId, f);
      const sideId = `${convId}/side`;
      agent = agents.get(sideId) ?? newAgent(sideId, convId, convs.get(convId)?.mainAgent ?? null, f, { isSubagent: false, isSide: true }, null);
      linkedBy = 'side';
    } else if (n > 0) {
      // 2. structural: longest prefix among agents' latest requests.
      for (let k = n; k >= 1 && !agent; k--) {
        const cands = byTail.get(tailKey(k, f.prefixHashes[k - 1]!));
        if (!cands || cands.length === 0) continue;
        const score = (a: AgentState) =>
          (a.sessionId !== null && a.sessionId === f.sessionId ? 4 : 0) + (a.systemKey === f.systemKey ? 2 : 0) + (a.toolsKey === f.toolsKey ? 1 : 0);
        const best = [...cands].sort((a, b) => score(b) - score(a) || b.order - a.order)[0];
        if (
          k === n &&
          best &&
          best.lastLen === n &&
          (best.systemKey !== f.systemKey || best.toolsKey !== f.toolsKey || best.lastAnsweredWithToolUse)
        ) {
          // Same messages, but under another system prompt / tool set, or after a completed tool call (which the
          // client runs instead of resending): not a resend but a different agent (e.g. a nested sub-agent given
          // the same prompt) — fall through to new-agent detection.
          break;
        }
        agent = best;
        linkedBy = 'prefix';
        if (k === n && agent && agent.lastLen === n) {
          duplicateOf = agent.lastId;
        }
      }
      if (!agent) {
        // 3. a new agent: spawned sub-agent?
        let spawn: Spawn | undefined;
        let spawnPrompt: string | undefined;
        for (const t of f.firstUserTexts) {
          const s = unusedSpawn(spawns.get(t));
          if (s) {
            spawn = s;
            spawnPrompt = t;
            break;
          }
        }
        if (!spawn) {
          outer: for (const [p, list] of spawns) {
            const s = unusedSpawn(list);
            if (!s || p.length < 16) continue;
            for (const t of f.firstUserTexts) {
              if (t.includes(p)) {
                spawn = s;
                spawnPrompt = p;
                break outer;
              }
            }
          }
        }
        if (spawn && spawnPrompt !== undefined) {
          spawn.used = true;
          const c = convs.get(spawn.conversationId)!;
          c.subCount++;
          agent = newAgent(`${spawn.conversationId}/sub-${c.subCount}`, spawn.conversationId, spawn.agentId, f, { isSubagent: true, isSide: false }, spawn.requestId);
          spawnedByRequestId = spawn.requestId;
          linkedBy = 'spawn';
        } else {
          const convId = f.sessionId ? sessionConv.get(f.sessionId) : undefined;
          const main = convId ? agents.get(convs.get(convId)?.mainAgent ?? '') : undefined;
          if (convId && main && (main.systemKey !== f.systemKey || main.toolsKey !== f.toolsKey)) {
            const c = convs.get(convId)!;
            c.subCount++;
            agent = newAgent(`${convId}/sub-${c.subCount}`, convId, main.info.agentId, f, { isSubagent: true, isSide: false }, null);
            linkedBy = 'session';
          } else if (convId && !main && convs.get(convId)!.mainAgent === null) {
            // The session's conversation so far holds only side requests (e.g. the title came first).
            agent = newAgent(convId, convId, null, f, { isSubagent: false, isSide: false }, null);
            linkedBy = 'new';
          } else {
            const id = newConversation(f);
            agent = newAgent(id, id, null, f, { isSubagent: false, isSide: false }, null);
            linkedBy = 'new';
          }
        }
      }
    } else {
      const id = newConversation(f);
      agent = newAgent(id, id, null, f, { isSubagent: false, isSide: false }, null);
    }

    const a = agent!;
    if (duplicateOf) duplicateKind = a.lastStreaming === true && f.isStreaming === false ? 'stream-retry' : 'resend';
    const turnIndex = duplicateOf ? Math.max(0, a.lastTurn) : a.lastTurn + 1;
    let thinkTimeMs: number | null = null;
    if (a.info.requests > 0 && !duplicateOf && f.startedAtMs !== null && a.lastEndMs !== null) {
      thinkTimeMs = Math.max(0, f.startedAtMs - a.lastEndMs);
    }
    const parentRequestId = a.info.requests > 0 ? (duplicateOf ? null : a.lastId) : null;
    out.push({
      id: f.id,
      conversationId: a.info.conversationId,
      agentId: a.info.agentId,
      parentAgentId: a.info.parentAgentId,
      isSubagent: a.info.isSubagent,
      turnIndex,
      parentRequestId: duplicateOf ? (out.find((r) => r.id === duplicateOf)?.parentRequestId ?? null) : parentRequestId,
      spawnedByRequestId: a.info.requests === 0 ? a.info.spawnedByRequestId : null,
      duplicateOf,
      duplicateKind,
      kind: f.kind,
      side: f.side,
      linkedBy,
      thinkTimeMs,
      apiTimeMs: f.apiTimeMs,
    });
    // Update agent state.
    if (!a.info.isSide) {
      removeTail(a);
      if (n >= a.lastLen || a.info.requests === 0) {
        a.lastLen = n;
        a.lastHash = n > 0 ? f.prefixHashes[n - 1]! : 0;
      }
      addTail(a);
    }
    a.lastId = f.id;
    a.lastEndMs = f.endedAtMs ?? a.lastEndMs;
    a.lastStreaming = f.isStreaming;
    a.lastAnsweredWithToolUse = f.responseToolUse && f.error === null && (f.status === null || f.status < 400);
    a.lastTurn = turnIndex;
    a.info.requests++;
    if (f.model && !a.info.modelsSet.has(f.model)) {
      a.info.modelsSet.add(f.model);
      a.info.models.push(f.model);
    }
    const c = convs.get(a.info.conversationId)!;
    if (!a.info.isSide) lastConv = c.conversationId;
    c.requests++;
    if (f.startedAtMs !== null) c.startMs = c.startMs === null ? f.startedAtMs : Math.min(c.startMs, f.startedAtMs);
    const end = f.endedAtMs ?? f.startedAtMs;
    if (end !== null) c.endMs = c.endMs === null ? end : Math.max(c.endMs, end);
    if (f.model && !c.modelsSet.has(f.model)) {
      c.modelsSet.add(f.model);
      c.models.push(f.model);
    }
    for (const s of f.spawns) {
      const list = spawns.get(s.prompt) ?? [];
      list.push({ requestId: f.id, agentId: a.info.agentId, conversationId: a.info.conversationId, used: false });
      spawns.set(s.prompt, list);
    }
    for (const t of f.responseToolUseIds) if (t) toolUseToRequest.set(t, { requestId: f.id, agentId: a.info.agentId });
  }

  // JSONL agents whose spawner appeared later in time order (agent file read before the parent's response).
  for (const r of out) {
    if (r.linkedBy !== 'jsonl' || r.spawnedByRequestId || r.turnIndex !== 0 || !r.isSubagent) continue;
    const f = factsIn.find((x) => x.id === r.id);
    const t = f?.hints?.spawnedByToolUseId;
    const sp = t ? toolUseToRequest.get(t) : undefined;
    if (sp) r.spawnedByRequestId = sp.requestId;
  }

  const agentList: AgentInfo[] = [...agents.values()].map((a) => {
    const { modelsSet: _m, ...info } = a.info;
    return info;
  });
  const convList: ConversationInfo[] = [...convs.values()]
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
  return deepFreeze({ requests: out, agents: agentList, conversations: convList });
}
