import { contextTokens } from '../shared/anthropic.js';
import type { BlockRequest, TraceRequest } from '../shared/trace-record.js';
import { isBillingLine, stableStringify } from '../analyze/normalize.js';
import { UsageError } from '../shared/errors.js';
import { gapKindOf, type GapKind } from '../analyze/job-split.js';
import type { PlannedRequest, RecordedFacts, ReplayPlan } from './types.js';

/**
 * Turns a trace into a replay plan: every request with its recorded offset, the requests it must wait for
 * (previous turn of the same agent; a sub-agent's spawning turn; for a parent turn after a fan-out, the last
 * turn of every sub-agent it spawned = the join) and the recorded gap after them. Pure.
 */

interface Node {
  id: string;
  conversationId: string;
  agentKey: string;
  parentAgentKey: string | null;
  startMs: number;
  /** Recorded end (start + api time), ms since trace start; null when unknown. */
  endMs: number | null;
  thinkMs: number | null;
  model: string | null;
  body: PlannedRequest['body'];
  hashIds: number[] | null;
  blockSize: number | null;
  block: BlockRequest | null;
  recorded: RecordedFacts;
  gapKind: GapKind;
}

function link(nodes: Node[]): PlannedRequest[] {
  nodes.sort((a, b) => a.startMs - b.startMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const byAgent = new Map<string, Node[]>();
  for (const n of nodes) {
    let l = byAgent.get(n.agentKey);
    if (!l) byAgent.set(n.agentKey, (l = []));
    l.push(n);
  }
  const endOf = (n: Node) => n.endMs ?? n.startMs;
  const deps = new Map<string, string[]>();
  const delays = new Map<string, number>();
  // Children spawned by a given parent turn (id of the parent request → last request ids of each child agent).
  const spawnedBy = new Map<string, Node[]>();
  for (const list of byAgent.values()) {
    const first = list[0]!;
    const parentList = first.parentAgentKey ? byAgent.get(first.parentAgentKey) : undefined;
    if (parentList && parentList.length) {
      // The spawning turn: the parent's latest request that started before the child's first request.
      let spawner: Node | undefined;
      for (const p of parentList) if (p.startMs <= first.startMs) spawner = p;
      if (spawner) {
        deps.set(first.id, [spawner.id]);
        delays.set(first.id, Math.max(0, first.startMs - endOf(spawner)));
        const last = list[list.length - 1]!;
        let arr = spawnedBy.get(spawner.id);
        if (!arr) spawnedBy.set(spawner.id, (arr = []));
        arr.push(last);
      }
    }
  }
  for (const list of byAgent.values()) {
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1]!;
      const cur = list[i]!;
      const joined = spawnedBy.get(prev.id) ?? [];
      const d = [prev.id, ...joined.map((j) => j.id)];
      deps.set(cur.id, d);
      const latestEnd = Math.max(endOf(prev), ...joined.map(endOf));
      const gap = joined.length === 0 && cur.thinkMs !== null ? cur.thinkMs : cur.startMs - latestEnd;
      delays.set(cur.id, Math.max(0, gap));
    }
  }
  return nodes.map((n, index) => ({
    id: n.id,
    index,
    conversationId: n.conversationId,
    agentKey: n.agentKey,
    parentAgentKey: n.parentAgentKey,
    offsetMs: n.startMs,
    deps: deps.get(n.id) ?? [],
    delayMs: delays.get(n.id) ?? 0,
    model: n.model,
    body: n.body,
    hashIds: n.hashIds,
    blockSize: n.blockSize,
    block: n.block,
    recorded: n.recorded,
    gapKind: n.gapKind,
    copy: 0,
  }));
}

function wall(nodes: PlannedRequest[]): number | null {
  if (nodes.length === 0) return null;
  let end = 0;
  for (const n of nodes) end = Math.max(end, n.offsetMs + (n.recorded.apiMs ?? 0));
  return end;
}

/** Plan from block-level records (kv-cache-tester / Mooncake imports, or the block model's output). */
export function planFromBlocks(blocks: Iterable<BlockRequest>, traceName: string, sourceKind: string): ReplayPlan {
  const arr = [...blocks];
  const t0 = arr.reduce((m, b) => Math.min(m, b.t), Infinity);
  const seen = new Map<string, number>();
  const nodes: Node[] = arr.map((b) => {
    const n = (seen.get(b.id) ?? 0) + 1;
    seen.set(b.id, n);
    const startMs = (b.t - (Number.isFinite(t0) ? t0 : 0)) * 1000;
    const apiMs = b.apiTime === null ? null : b.apiTime * 1000;
    return {
      id: n > 1 ? `${b.id}#${n}` : b.id,
      conversationId: b.conversationId,
      agentKey: `${b.conversationId}/${b.agentId}`,
      parentAgentKey: b.parentAgentId === null ? null : `${b.conversationId}/${b.parentAgentId}`,
      startMs,
      endMs: apiMs === null ? null : startMs + apiMs,
      thinkMs: b.thinkTime === null ? null : b.thinkTime * 1000,
      model: b.model,
      body: null,
      hashIds: b.hashIds,
      blockSize: b.blockSize,
      block: b,
      gapKind: 'other',
      recorded: {
        ttftMs: b.ttft === null ? null : b.ttft * 1000,
        apiMs,
        promptTokens: b.inputTokens,
        outputTokens: b.outputTokens,
        cacheReadTokens: b.usage ? b.usage.cache_read_input_tokens : null,
        thinkMs: b.thinkTime === null ? null : b.thinkTime * 1000,
      },
    };
  });
  const requests = link(nodes);
  return { traceName, sourceKind, requests, recordedWallMs: wall(requests), blockSize: arr[0]?.blockSize ?? null };
}

/** Only real model calls are replayed (count_tokens and non-JSON bodies are skipped). */
export function isReplayable(r: TraceRequest): boolean {
  return r.body !== null && Array.isArray(r.body.messages) && /\/v1\/messages\/?$/.test(r.endpoint.split('?')[0] ?? '');
}

/**
 * Agent key for a content record: the source's agentId hint when present, else session + system prompt
 * (a sub-agent has its own system prompt), so concurrent sub-agents of one session stay separate chains.
 */
export function agentKeyOf(r: TraceRequest): { conversationId: string; agent: string; parent: string | null } {
  const conversationId = r.hints?.conversationId ?? r.sessionId ?? 'default';
  if (r.hints?.agentId) return { conversationId, agent: r.hints.agentId, parent: r.hints.parentAgentId ?? null };
  const sys = r.body?.system;
  const sysKey = typeof sys === 'string' ? sys : Array.isArray(sys) ? sys.filter((b) => !isBillingLine(b.text)).map((b) => b.text).join('\n') : '';
  let h = 0;
  const s = stableStringify(sysKey) + '|' + (r.body?.tools?.length ?? 0) + '|' + (r.model ?? '');
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return { conversationId, agent: `agent-${(h >>> 0).toString(16)}`, parent: null };
}

export interface ContentPlanOptions {
  /** Block-level view of the same requests (by TraceRequest id) when a block model is available. */
  blocksById?: Map<string, BlockRequest>;
  /** Override agent assignment (e.g. from the conversation index). */
  agentOf?: (r: TraceRequest) => { conversationId: string; agent: string; parent: string | null };
}

/** Plan from content-level records (requests.db, JSONL, anyclaude traces). */
export function planFromTraceRequests(
  records: Iterable<TraceRequest>,
  traceName: string,
  sourceKind: string,
  options: ContentPlanOptions = {},
): ReplayPlan {
  const rs = [...records].filter(isReplayable);
  const t0 = rs.reduce((m, r) => (r.startedAtMs === null ? m : Math.min(m, r.startedAtMs)), Infinity);
  const agentOf = options.agentOf ?? agentKeyOf;
  const lastEnd = new Map<string, number>();
  let blockSize: number | null = null;
  const nodes: Node[] = rs.map((r, i) => {
    const a = agentOf(r);
    const agentKey = `${a.conversationId}/${a.agent}`;
    const startMs = r.startedAtMs !== null && Number.isFinite(t0) ? r.startedAtMs - t0 : i;
    const apiMs = r.durationMs ?? (r.endedAtMs !== null && r.startedAtMs !== null ? r.endedAtMs - r.startedAtMs : null);
    const prevEnd = lastEnd.get(agentKey);
    const endMs = apiMs === null ? null : startMs + apiMs;
    lastEnd.set(agentKey, endMs ?? startMs);
    const blk = options.blocksById?.get(r.id);
    if (blk) blockSize = blk.blockSize;
    return {
      id: r.id,
      conversationId: a.conversationId,
      agentKey,
      parentAgentKey: a.parent === null ? null : `${a.conversationId}/${a.parent}`,
      startMs,
      endMs,
      thinkMs: prevEnd === undefined ? null : Math.max(0, startMs - prevEnd),
      model: r.model ?? r.body?.model ?? null,
      body: r.body,
      hashIds: blk?.hashIds ?? null,
      blockSize: blk?.blockSize ?? null,
      block: blk ?? null,
      gapKind: gapKindOf(r.body),
      recorded: {
        ttftMs: r.ttftMs,
        apiMs,
        promptTokens: r.usage ? contextTokens(r.usage) : null,
        outputTokens: r.usage ? r.usage.output_tokens : null,
        cacheReadTokens: r.usage ? r.usage.cache_read_input_tokens : null,
        thinkMs: prevEnd === undefined ? null : Math.max(0, startMs - prevEnd),
      },
    };
  });
  const requests = link(nodes);
  return { traceName, sourceKind, requests, recordedWallMs: wall(requests), blockSize };
}

/** The conversation id `idOrPrefix` names (exact id, or a unique prefix); UsageError otherwise. */
export function resolveConversation(plan: ReplayPlan, idOrPrefix: string): string {
  const ids = [...new Set(plan.requests.map((r) => r.conversationId))];
  if (ids.includes(idOrPrefix)) return idOrPrefix;
  const matches = ids.filter((c) => c.startsWith(idOrPrefix));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new UsageError(`no conversation "${idOrPrefix}" (have: ${ids.slice(0, 10).join(', ')})`);
  throw new UsageError(`conversation prefix "${idOrPrefix}" is ambiguous: ${matches.slice(0, 10).join(', ')}`);
}

/** Keeps one conversation (by id or unique id prefix), offsets re-based to its first request. */
export function filterConversation(plan: ReplayPlan, idOrPrefix: string): ReplayPlan {
  const id = resolveConversation(plan, idOrPrefix);
  const requests = plan.requests.filter((r) => r.conversationId === id).map((r, index) => ({ ...r, index }));
  const t0 = requests.reduce((m, r) => Math.min(m, r.offsetMs), Infinity);
  for (const r of requests) r.offsetMs -= t0;
  return { ...plan, requests, recordedWallMs: wall(requests) };
}
