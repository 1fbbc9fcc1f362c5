import { requestBodyProblem, responseProblem } from './record-shape.js';
import { closeSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { AssistantMessage, ContentBlock, MessageParam } from '../../shared/anthropic.js';
import type { TraceRequest } from '../../shared/trace-record.js';
import { toUsage } from '../../shared/message-assembler.js';
import { SourceError, errorMessage } from '../../shared/errors.js';
import type { OpenSourceOptions, OpenedSource, SourceImporter, SourceProbe, SourceStats } from './source.js';
import { parseTime } from './response-parse.js';

/**
 * `claude-jsonl`: Claude Code's own session files, `~/.claude/projects/<project>/<session>.jsonl`, with
 * sub-agents in `agent-<agentId>.jsonl` beside them or in `<session>/subagents/`. The path may be one file,
 * a project directory or the whole projects directory (searched 4 levels deep).
 *
 * One TraceRequest per API call:
 * - an API response may span several assistant entries sharing `message.id`: they are merged (content
 *   concatenated, usage/stop_reason of the last entry);
 * - the parent's `progress` lines of type `agent_progress` echo the sub-agents' messages (same message.id
 *   and usage): every message.id is yielded once (an agent's own file wins over the echo; echoes are used
 *   only for agents whose file is missing). Resumed sessions that copy history are deduplicated the same way;
 * - `<synthetic>` assistant entries (written by Claude Code, not by the API) are not API calls;
 * - request messages are rebuilt from the parentUuid chain (sibling tool_result entries of one assistant
 *   message are merged into one user message, consecutive same-role messages are merged). Tools and system
 *   prompt are not in the JSONL: `bodyComplete` is false and `body.tools`/`body.system` are absent;
 * - startedAtMs = timestamp of the entry the call answers (user message / tool result), endedAtMs = the last
 *   assistant entry's timestamp; status, ttft and streaming are unknown (null).
 * hints: agentId (session id for the main agent, `agentId` for sub-agents), parentAgentId, isSidechain,
 * conversationId (session id), spawnedByToolUseId (the Agent/Task tool_use that spawned it, when known).
 * Records are chronological within a session; sessions are ordered by their first timestamp. Memory is
 * bounded by one session (parent + its sub-agent files), not by the whole directory.
 */

interface Entry {
  type: string;
  uuid: string | null;
  parentUuid: string | null;
  timestamp: number | null;
  message?: { id?: string; role?: string; model?: string; content?: unknown; usage?: unknown; stop_reason?: string | null; stop_sequence?: string | null };
  isSidechain?: boolean;
  agentId?: string;
  sessionId?: string;
  toolUseResult?: unknown;
  sourceToolAssistantUUID?: string;
  order: number;
}

interface AgentStore {
  agentId: string;
  parentAgentId: string | null;
  spawnedByToolUseId?: string;
  file: string;
  isSidechain: boolean;
  fromEcho: boolean;
  entries: Entry[];
  byUuid: Map<string, Entry>;
  children: Map<string, Entry[]>;
}

const HEAD_BYTES = 65536;

function readHead(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(HEAD_BYTES);
    const n = readSync(fd, buf, 0, HEAD_BYTES, 0);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

function looksLikeSessionJsonl(head: string): boolean {
  return /"sessionId"\s*:/.test(head) && /"(parentUuid|uuid)"\s*:/.test(head);
}

function walkJsonl(dir: string, depth: number, out: string[]): void {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return;
  }
  for (const n of names) {
    const full = join(dir, n);
    let st;
    try {
      st = statSync(full);
    } catch {
      continue;
    }
    if (st.isFile() && n.endsWith('.jsonl')) out.push(full);
    else if (st.isDirectory() && depth > 0) walkJsonl(full, depth - 1, out);
  }
}

interface FileInfo {
  path: string;
  sessionKey: string;
  firstTs: number;
  isAgentFile: boolean;
}

function fileInfo(path: string): FileInfo {
  const head = readHead(path);
  const sid = /"sessionId"\s*:\s*"([^"]+)"/.exec(head)?.[1];
  const ts = /"timestamp"\s*:\s*"([^"]+)"/.exec(head)?.[1];
  const name = basename(path, '.jsonl');
  const isAgentFile = name.startsWith('agent-');
  let sessionKey = sid ?? (isAgentFile ? '' : name);
  if (!sessionKey && basename(dirname(path)) === 'subagents') sessionKey = basename(dirname(dirname(path)));
  if (!sessionKey) sessionKey = name;
  return { path, sessionKey, firstTs: parseTime(ts) ?? Number.MAX_SAFE_INTEGER, isAgentFile };
}

function newStore(agentId: string, file: string, parentAgentId: string | null, isSidechain: boolean, fromEcho: boolean): AgentStore {
  return { agentId, parentAgentId, file, isSidechain, fromEcho, entries: [], byUuid: new Map(), children: new Map() };
}

function addEntry(store: AgentStore, e: Entry): void {
  store.entries.push(e);
  if (e.uuid) store.byUuid.set(e.uuid, e);
  if (e.parentUuid) {
    let c = store.children.get(e.parentUuid);
    if (!c) store.children.set(e.parentUuid, (c = []));
    c.push(e);
  }
}

function toBlocks(content: unknown): ContentBlock[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  return Array.isArray(content) ? (content as ContentBlock[]) : [];
}

function isToolResultEntry(e: Entry): boolean {
  return Array.isArray(e.message?.content) && (e.message!.content as { type?: string }[]).some((b) => b?.type === 'tool_result');
}

/** Rebuilds the API `messages` a call was sent with, from the chain ending at `leafUuid`. */
function rebuildMessages(store: AgentStore, leafUuid: string | null): MessageParam[] {
  const chain: Entry[] = [];
  const seen = new Set<string>();
  let cur = leafUuid ? store.byUuid.get(leafUuid) : undefined;
  while (cur && !(cur.uuid && seen.has(cur.uuid))) {
    if (cur.uuid) seen.add(cur.uuid);
    chain.push(cur);
    cur = cur.parentUuid ? store.byUuid.get(cur.parentUuid) : undefined;
  }
  chain.reverse();
  const msgs: { role: MessageParam['role']; content: ContentBlock[]; id?: string }[] = [];
  const doneToolResultParents = new Set<string>();
  for (const e of chain) {
    if (e.type === 'assistant' && e.message) {
      const id = e.message.id;
      const last = msgs[msgs.length - 1];
      const blocks = toBlocks(e.message.content);
      if (last && last.role === 'assistant' && id && last.id === id) last.content.push(...blocks);
      else msgs.push({ role: 'assistant', content: [...blocks], id });
    } else if (e.type === 'user' && e.message) {
      let blocks: ContentBlock[];
      const parent = e.sourceToolAssistantUUID ?? e.parentUuid;
      if (isToolResultEntry(e) && parent) {
        if (doneToolResultParents.has(parent)) continue;
        doneToolResultParents.add(parent);
        const siblings = (store.children.get(parent) ?? []).filter((s) => s.type === 'user' && isToolResultEntry(s));
        blocks = siblings.flatMap((s) => toBlocks(s.message!.content));
      } else {
        blocks = toBlocks(e.message.content);
      }
      const role = (e.message.role as MessageParam['role']) ?? 'user';
      const last = msgs[msgs.length - 1];
      if (last && last.role === role) last.content.push(...blocks);
      else msgs.push({ role, content: [...blocks] });
    }
  }
  return msgs.map((m) => ({ role: m.role, content: m.content }));
}

interface Call {
  msgId: string;
  store: AgentStore;
  entries: Entry[];
}

function parseEntry(o: Record<string, unknown>, order: number): Entry {
  return {
    type: String(o.type ?? ''),
    uuid: typeof o.uuid === 'string' ? o.uuid : null,
    parentUuid: typeof o.parentUuid === 'string' ? o.parentUuid : null,
    timestamp: parseTime(o.timestamp),
    message: o.message && typeof o.message === 'object' ? (o.message as Entry['message']) : undefined,
    isSidechain: o.isSidechain === true,
    agentId: typeof o.agentId === 'string' ? o.agentId : undefined,
    sessionId: typeof o.sessionId === 'string' ? o.sessionId : undefined,
    toolUseResult: o.toolUseResult,
    sourceToolAssistantUUID: typeof o.sourceToolAssistantUUID === 'string' ? o.sourceToolAssistantUUID : undefined,
    order,
  };
}

/**
 * Reads the files of one session into per-agent stores (one method per kind of line: the entry itself, the
 * parent's `agent_progress` echoes of a sub-agent, the Agent tool's result naming the agent it ran), then groups
 * assistant entries into API calls.
 */
class SessionReader {
  readonly stores = new Map<string, AgentStore>();
  readonly echoStores = new Map<string, AgentStore>();
  private readonly spawn = new Map<string, { parentAgentId: string; toolUseId?: string }>();
  private order = 0;

  constructor(
    private readonly mainId: string,
    private readonly options: OpenSourceOptions,
    private readonly stats: { skipped: number },
  ) {}

  readFile(f: FileInfo): void {
    let text: string;
    try {
      text = readFileSync(f.path, 'utf8');
    } catch (e) {
      this.stats.skipped++;
      this.options.logger.warn(`${f.path}: cannot read: ${errorMessage(e)}`);
      return;
    }
    const fileAgent = f.isAgentFile ? basename(f.path, '.jsonl').slice('agent-'.length) : this.mainId;
    const lines = text.split('\n');
    text = '';
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === '') continue;
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
        if (!o || typeof o !== 'object' || Array.isArray(o)) throw new Error('not an object');
      } catch (e) {
        this.stats.skipped++;
        this.options.logger.warn(`${f.path}:${i + 1}: skipping malformed line: ${errorMessage(e)}`);
        continue;
      }
      this.addLine(o, fileAgent, f.path);
    }
  }

  private addLine(o: Record<string, unknown>, fileAgent: string, path: string): void {
    const e = parseEntry(o, this.order++);
    const agentId = e.agentId ?? fileAgent;
    if (e.type === 'progress') this.addProgressEcho(o, agentId, path);
    let store = this.stores.get(agentId);
    if (!store) {
      const sp = this.spawn.get(agentId);
      store = newStore(agentId, path, agentId === this.mainId ? null : (sp?.parentAgentId ?? this.mainId), e.isSidechain === true, false);
      this.stores.set(agentId, store);
    }
    addEntry(store, e);
    this.noteAgentResult(e, agentId);
  }

  /** The parent's `agent_progress` lines echo a sub-agent's messages (and tell who spawned it). */
  private addProgressEcho(o: Record<string, unknown>, agentId: string, path: string): void {
    const data = o.data as Record<string, unknown> | undefined;
    if (data?.type !== 'agent_progress' || typeof data.agentId !== 'string') return;
    const aid = data.agentId;
    if (!this.spawn.has(aid)) {
      this.spawn.set(aid, { parentAgentId: agentId, toolUseId: typeof o.parentToolUseID === 'string' ? o.parentToolUseID : undefined });
    }
    const m = data.message as Record<string, unknown> | undefined;
    if (!m || typeof m !== 'object' || (m.type !== 'user' && m.type !== 'assistant')) return;
    let es = this.echoStores.get(aid);
    if (!es) this.echoStores.set(aid, (es = newStore(aid, path, agentId, true, true)));
    const prev = es.entries[es.entries.length - 1];
    addEntry(es, parseEntry({ ...m, parentUuid: prev?.uuid ?? null, timestamp: m.timestamp ?? o.timestamp }, this.order++));
  }

  /** The Agent tool's result names the agent it ran. */
  private noteAgentResult(e: Entry, agentId: string): void {
    const tur = e.toolUseResult as { agentId?: unknown } | undefined;
    if (e.type !== 'user' || !tur || typeof tur !== 'object' || typeof tur.agentId !== 'string' || this.spawn.has(tur.agentId)) return;
    const tr = (Array.isArray(e.message?.content) ? (e.message!.content as { type?: string; tool_use_id?: string }[]) : []).find(
      (b) => b?.type === 'tool_result',
    );
    this.spawn.set(tur.agentId, { parentAgentId: agentId, toolUseId: tr?.tool_use_id });
  }

  /** Spawn info may have been learnt after a store was created. */
  applySpawns(): void {
    for (const s of [...this.stores.values(), ...this.echoStores.values()]) {
      const sp = this.spawn.get(s.agentId);
      if (s.agentId !== this.mainId && sp) {
        s.parentAgentId = sp.parentAgentId;
        s.spawnedByToolUseId = sp.toolUseId;
      }
    }
  }

  /** Assistant entries grouped by message id (an agent's own file wins over the parent's echo of it). */
  calls(): Map<string, Call> {
    const calls = new Map<string, Call>();
    const collect = (store: AgentStore, preferExisting: boolean) => {
      for (const e of store.entries) {
        if (e.type !== 'assistant' || !e.message) continue;
        const id = e.message.id;
        if (typeof id !== 'string' || id === '' || e.message.model === '<synthetic>') continue;
        const c = calls.get(id);
        if (!c) calls.set(id, { msgId: id, store, entries: [e] });
        else if (c.store === store) c.entries.push(e);
        else if (!preferExisting && c.store.fromEcho) calls.set(id, { msgId: id, store, entries: [e] });
      }
    };
    for (const s of this.stores.values()) collect(s, false);
    for (const s of this.echoStores.values()) collect(s, true);
    return calls;
  }
}

/** One API call as a TraceRequest: messages rebuilt from the parentUuid chain, the response from its entries. */
function callToRequest(c: Call, mainId: string, sessionKey: string): TraceRequest {
  const first = c.entries[0]!;
  const last = c.entries[c.entries.length - 1]!;
  const parentEntry = first.parentUuid ? c.store.byUuid.get(first.parentUuid) : undefined;
  const messages = rebuildMessages(c.store, first.parentUuid);
  const content = c.entries.flatMap((e) => toBlocks(e.message!.content));
  const usage = toUsage([...c.entries].reverse().find((e) => e.message?.usage)?.message?.usage) ?? null;
  const model = last.message?.model ?? null;
  const endedAtMs = c.entries.reduce<number | null>((m, e) => (e.timestamp !== null && (m === null || e.timestamp > m) ? e.timestamp : m), null);
  const startedAtMs = parentEntry?.timestamp ?? first.timestamp;
  const response: AssistantMessage = {
    id: c.msgId,
    type: 'message',
    role: 'assistant',
    model: model ?? '',
    content,
    stop_reason: last.message?.stop_reason ?? null,
    stop_sequence: last.message?.stop_sequence ?? null,
    usage: usage ?? { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
  };
  const isMain = c.store.agentId === mainId;
  return {
    id: `${basename(c.store.file)}:${c.msgId}`,
    source: 'claude-jsonl',
    startedAtMs,
    endedAtMs,
    ttftMs: null,
    durationMs: startedAtMs !== null && endedAtMs !== null ? endedAtMs - startedAtMs : null,
    method: 'POST',
    endpoint: '/v1/messages',
    model,
    isStreaming: null,
    status: null,
    userAgent: null,
    sessionId: first.sessionId ?? sessionKey,
    body: { model: model ?? '', messages },
    bodyComplete: false,
    response,
    usage,
    stopReason: response.stop_reason,
    messageId: c.msgId,
    error: null,
    hints: {
      agentId: c.store.agentId,
      ...(isMain ? {} : { parentAgentId: c.store.parentAgentId ?? mainId }),
      isSidechain: !isMain || first.isSidechain === true,
      conversationId: sessionKey,
      ...(c.store.spawnedByToolUseId ? { spawnedByToolUseId: c.store.spawnedByToolUseId } : {}),
    },
  };
}

function* sessionRequests(
  files: FileInfo[],
  sessionKey: string,
  options: OpenSourceOptions,
  stats: { skipped: number },
  yieldedIds: Set<string>,
): Generator<TraceRequest> {
  const mainId = sessionKey;
  const reader = new SessionReader(mainId, options, stats);
  // Parent files first so that spawn info is known before agent files are read.
  const sorted = [...files].sort((a, b) => Number(a.isAgentFile) - Number(b.isAgentFile) || a.path.localeCompare(b.path));
  for (const f of sorted) reader.readFile(f);
  reader.applySpawns();
  const out: TraceRequest[] = [];
  for (const c of reader.calls().values()) {
    if (yieldedIds.has(c.msgId)) continue;
    yieldedIds.add(c.msgId);
    out.push(callToRequest(c, mainId, sessionKey));
  }
  out.sort((a, b) => (a.startedAtMs ?? 0) - (b.startedAtMs ?? 0) || (a.endedAtMs ?? 0) - (b.endedAtMs ?? 0));
  for (const r of out) {
    const problem = requestBodyProblem(r.body) ?? responseProblem(r.response);
    if (problem) {
      stats.skipped++;
      options.logger.warn(`${sessionKey}: skipping malformed call ${r.messageId}: ${problem}`);
      continue;
    }
    yield r;
  }
}

function open(path: string, options: OpenSourceOptions): OpenedSource {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new SourceError(`source not found: ${path}`);
  }
  const paths: string[] = [];
  if (st.isDirectory()) walkJsonl(path, 4, paths);
  else paths.push(path);
  const infos: FileInfo[] = [];
  for (const p of paths) {
    try {
      infos.push(fileInfo(p));
    } catch (e) {
      options.logger.warn(`${p}: cannot read: ${errorMessage(e)}`);
    }
  }
  const groups = new Map<string, FileInfo[]>();
  for (const i of infos) {
    let g = groups.get(i.sessionKey);
    if (!g) groups.set(i.sessionKey, (g = []));
    g.push(i);
  }
  const ordered = [...groups.entries()].sort(
    (a, b) => Math.min(...a[1].map((f) => f.firstTs)) - Math.min(...b[1].map((f) => f.firstTs)) || a[0].localeCompare(b[0]),
  );
  const stats: SourceStats = { skipped: 0, yielded: 0 };
  function* requests(): Generator<TraceRequest> {
    const pass = { skipped: 0 };
    let yielded = 0;
    const yieldedIds = new Set<string>();
    for (const [key, files] of ordered) {
      for (const r of sessionRequests(files, key, options, pass, yieldedIds)) {
        stats.skipped = Math.max(stats.skipped, pass.skipped);
        yielded++;
        stats.yielded = Math.max(stats.yielded, yielded);
        yield r;
      }
      stats.skipped = Math.max(stats.skipped, pass.skipped);
    }
  }
  return { kind: 'claude-jsonl', path, level: 'content', estimatedCount: null, requests, stats, close() {} };
}

export const claudeJsonlImporter: SourceImporter = {
  kind: 'claude-jsonl',
  description: 'Claude Code session JSONL (~/.claude/projects/<project>/*.jsonl, sub-agents included)',
  level: 'content',
  detect(p: SourceProbe): boolean {
    if (!p.isDirectory) return p.path.endsWith('.jsonl') && p.head !== null && looksLikeSessionJsonl(p.head.toString('utf8'));
    const found: string[] = [];
    walkJsonl(p.path, 4, found);
    for (const f of found.slice(0, 3)) {
      try {
        if (looksLikeSessionJsonl(readHead(f))) return true;
      } catch {
        /* ignore */
      }
    }
    return false;
  },
  open,
};
