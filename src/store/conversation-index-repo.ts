import type { Db } from './db.js';
import type { ConversationIndexTable } from './db-types.js';
import { hasTable, openDb } from './db.js';

/**
 * Stores the conversation index (src/analyze/conversation-index.ts) in a requests.db, table
 * `conversation_index` (migration 2): one row per request —
 *   request_id, conversation_id, agent_id, parent_agent_id, is_subagent (0/1), turn_index,
 *   parent_request_id, spawned_by_request_id, duplicate_of, duplicate_kind, kind, side, linked_by,
 *   think_time_ms, api_time_ms
 * plus `conversation_index_meta` (key/value: built_at, request_count, linking).
 * `writeConversationIndex` replaces the whole table in one transaction, so rebuilding is idempotent.
 * Consumers (cache simulation, report) read it with `readConversationIndex` → Map request id → row.
 */
/**
 * One stored row — the one definition of a conversation-index row; analyze's `IndexedRequest` extends it with
 * `kind` / `side` / `linkedBy` narrowed to their literal types (the store does not import analyze).
 */
export interface ConversationIndexRow {
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
  /** text | tool_use | tool_result | side | error */
  kind: string;
  /** title | quota | count_tokens | null */
  side: string | null;
  /** jsonl | prefix | spawn | session | new | side */
  linkedBy: string;
  thinkTimeMs: number | null;
  apiTimeMs: number | null;
}

export interface StoredIndexMeta {
  builtAt: string;
  requestCount: number;
  /** 'structural' or 'jsonl' (when --jsonl-dir supplied hints). */
  linking: string;
}

/**
 * Replaces the stored index — unless the stored one is already identical (same rows, same linking), in which
 * case nothing is written (returns false), so analysing a committed example DB leaves the file untouched.
 */
export function writeConversationIndex(db: Db, rows: readonly ConversationIndexRow[], meta: StoredIndexMeta): boolean {
  if (sameIndex(db, rows, meta)) return false;
  const ins = db.prepare(
    `INSERT INTO conversation_index (request_id, conversation_id, agent_id, parent_agent_id, is_subagent, turn_index,
      parent_request_id, spawned_by_request_id, duplicate_of, duplicate_kind, kind, side, linked_by, think_time_ms, api_time_ms)
     VALUES (@id, @conversationId, @agentId, @parentAgentId, @isSubagent, @turnIndex, @parentRequestId, @spawnedByRequestId,
      @duplicateOf, @duplicateKind, @kind, @side, @linkedBy, @thinkTimeMs, @apiTimeMs)`,
  );
  const setMeta = db.prepare('INSERT OR REPLACE INTO conversation_index_meta (key, value) VALUES (?, ?)');
  db.transaction(() => {
    db.exec('DELETE FROM conversation_index; DELETE FROM conversation_index_meta;');
    for (const r of rows) ins.run({ ...r, isSubagent: r.isSubagent ? 1 : 0 });
    setMeta.run('built_at', meta.builtAt);
    setMeta.run('request_count', String(meta.requestCount));
    setMeta.run('linking', meta.linking);
  })();
  return true;
}

/**
 * Stores the index into the requests.db at `path`, opening it read-write (and so migrating it) only when the stored
 * index differs: analysing a DB whose index is current leaves the file byte-identical. Returns true when written.
 */
export function storeConversationIndex(path: string, rows: readonly ConversationIndexRow[], meta: StoredIndexMeta): boolean {
  const ro = openDb(path, { readonly: true, mustExist: true });
  try {
    if (sameIndex(ro, rows, meta)) return false;
  } finally {
    ro.close();
  }
  const db = openDb(path, { mustExist: true });
  try {
    return writeConversationIndex(db, rows, meta);
  } finally {
    db.close();
  }
}

const INDEX_FIELDS: (keyof ConversationIndexRow)[] = [
  'conversationId', 'agentId', 'parentAgentId', 'isSubagent', 'turnIndex', 'parentRequestId', 'spawnedByRequestId',
  'duplicateOf', 'duplicateKind', 'kind', 'side', 'linkedBy', 'thinkTimeMs', 'apiTimeMs',
];

function sameIndex(db: Db, rows: readonly ConversationIndexRow[], meta: StoredIndexMeta): boolean {
  const storedMeta = readConversationIndexMeta(db);
  if (!storedMeta || storedMeta.linking !== meta.linking || storedMeta.requestCount !== rows.length) return false;
  const stored = readConversationIndex(db);
  if (stored.size !== rows.length) return false;
  for (const r of rows) {
    const s = stored.get(r.id);
    if (!s) return false;
    for (const f of INDEX_FIELDS) if ((s[f] ?? null) !== (r[f] ?? null)) return false;
  }
  return true;
}

type Row = ConversationIndexTable;

/** The stored index (empty map when the table is absent or empty). */
export function readConversationIndex(db: Db): Map<string, ConversationIndexRow> {
  const out = new Map<string, ConversationIndexRow>();
  if (!hasTable(db, 'conversation_index')) return out;
  for (const r of db.prepare('SELECT * FROM conversation_index').iterate() as Iterable<Row>) {
    out.set(r.request_id, {
      id: r.request_id,
      conversationId: r.conversation_id,
      agentId: r.agent_id,
      parentAgentId: r.parent_agent_id,
      isSubagent: r.is_subagent === 1,
      turnIndex: r.turn_index,
      parentRequestId: r.parent_request_id,
      spawnedByRequestId: r.spawned_by_request_id,
      duplicateOf: r.duplicate_of,
      duplicateKind: r.duplicate_kind as ConversationIndexRow['duplicateKind'],
      kind: r.kind,
      side: r.side,
      linkedBy: r.linked_by,
      thinkTimeMs: r.think_time_ms,
      apiTimeMs: r.api_time_ms,
    });
  }
  return out;
}

export function readConversationIndexMeta(db: Db): StoredIndexMeta | null {
  if (!hasTable(db, 'conversation_index_meta')) return null;
  const rows = db.prepare('SELECT key, value FROM conversation_index_meta').all() as { key: string; value: string }[];
  if (rows.length === 0) return null;
  const m = Object.fromEntries(rows.map((r) => [r.key, r.value]));
  return { builtAt: m.built_at ?? '', requestCount: Number(m.request_count ?? 0), linking: m.linking ?? 'structural' };
}
