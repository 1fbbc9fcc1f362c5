import type { Db } from './db.js';
import type { RequestsTable } from './db-types.js';
import { hasColumn } from './db.js';

/** A row as written by capture (every column optional except the claude-code-proxy NOT NULL ones). */
export type RequestRowInput = Pick<RequestsTable, 'id' | 'method' | 'endpoint' | 'headers' | 'body'> &
  Partial<Omit<RequestsTable, 'id' | 'method' | 'endpoint' | 'headers' | 'body'>>;

/** Every column a writer sets (both dialects; `created_at` keeps its default). */
export const WRITABLE: readonly (keyof RequestsTable)[] = [
  'id', 'timestamp', 'method', 'endpoint', 'headers', 'body', 'user_agent', 'content_type', 'prompt_grade',
  'response', 'model', 'original_model', 'routed_model', 'session_id', 'is_streaming', 'status',
  'started_at_ms', 'ttft_ms', 'duration_ms', 'input_tokens', 'output_tokens', 'cache_read_input_tokens',
  'cache_creation_input_tokens', 'stop_reason', 'message_id', 'error', 'sse_events', 'upstream_url', 'seq',
  'request_bytes', 'response_bytes', 'state', 'origin', 'origin_host', 'origin_user', 'body_skeleton',
];

interface Statements {
  upsert: import('better-sqlite3').Statement;
  complete: import('better-sqlite3').Statement;
}

/** Columns a completion never rewrites: they were written with the pending row (the ~80 KB body, headers). */
export const PENDING_ONLY: ReadonlySet<keyof RequestsTable> = new Set<keyof RequestsTable>(['id', 'headers', 'body']);
const cache = new WeakMap<Db, Statements>();

/** Statements are prepared once per connection. */
function statements(db: Db): Statements {
  let s = cache.get(db);
  if (!s) {
    const cols = WRITABLE.join(', ');
    const params = WRITABLE.map((c) => `@${c}`).join(', ');
    const updates = WRITABLE.filter((c) => c !== 'id').map((c) => `${c} = coalesce(excluded.${c}, ${c})`).join(', ');
    s = {
      upsert: db.prepare(`INSERT INTO requests (${cols}) VALUES (${params}) ON CONFLICT(id) DO UPDATE SET ${updates}`),
      complete: db.prepare(
        `UPDATE requests SET ${WRITABLE.filter((c) => !PENDING_ONLY.has(c)).map((c) => `${c} = coalesce(@${c}, ${c})`).join(', ')} WHERE id = @id`,
      ),
    };
    cache.set(db, s);
  }
  return s;
}

/** The row's values for every WRITABLE column (null when absent; `timestamp` defaults to now). */
export function bind(row: Partial<RequestsTable>, skip?: ReadonlySet<keyof RequestsTable>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of WRITABLE) if (!skip?.has(c) || c === 'id') out[c] = row[c] ?? null;
  if (out.timestamp === null) out.timestamp = new Date().toISOString();
  return out;
}

/** The completion update (no body/headers bound); false when no row with that id exists yet. */
function runComplete(s: Statements, row: RequestRowInput): boolean {
  return s.complete.run(bind(row, PENDING_ONLY)).changes > 0;
}

/**
 * Inserts a row, or — when the id exists — fills in the columns given (non-null values win).
 * Capture writes a `pending` row when a request arrives and completes it when the response ends.
 */
export function upsertRequest(db: Db, row: RequestRowInput): void {
  statements(db).upsert.run(bind(row));
}

/**
 * Completes a row written earlier (e.g. capture's pending row) with an UPDATE that leaves `body` and `headers`
 * as they are — the big columns are not bound or sent again; other columns follow upsert's rule (non-null
 * values win). Falls back to the full upsert when the row does not exist.
 */
export function completeRequest(db: Db, row: RequestRowInput): void {
  const s = statements(db);
  if (!runComplete(s, row)) s.upsert.run(bind(row));
}

/**
 * Writes one capture row: a `pending` row (or one without state) is upserted, any other state completes the
 * existing row (completeRequest).
 */
export function writeCaptureRow(db: Db, row: RequestRowInput): void {
  if (row.state && row.state !== 'pending') completeRequest(db, row);
  else upsertRequest(db, row);
}

/** writeCaptureRow for many rows, in one transaction. */
export function writeCaptureRows(db: Db, rows: RequestRowInput[]): void {
  const s = statements(db);
  db.transaction((rs: RequestRowInput[]) => {
    for (const r of rs) {
      if (r.state && r.state !== 'pending' && runComplete(s, r)) continue;
      s.upsert.run(bind(r));
    }
  })(rows);
}

/** Writes many rows in one transaction. */
export function upsertRequests(db: Db, rows: RequestRowInput[]): void {
  const s = statements(db);
  db.transaction((rs: RequestRowInput[]) => {
    for (const r of rs) s.upsert.run(bind(r));
  })(rows);
}

export function countRequests(db: Db): number {
  return (db.prepare('SELECT count(*) AS n FROM requests').get() as { n: number }).n;
}

export function getRequest(db: Db, id: string): RequestsTable | undefined {
  return db.prepare('SELECT * FROM requests WHERE id = ?').get(id) as RequestsTable | undefined;
}

/**
 * Streams every row in capture order (started_at_ms, then seq, then timestamp) without loading the table.
 * Works on claude-code-proxy databases (which lack our columns) by ordering on `timestamp` only.
 */
export function* iterateRequests(db: Db): Generator<RequestsTable> {
  const ours = hasColumn(db, 'requests', 'started_at_ms');
  const order = ours ? 'coalesce(started_at_ms, 0), coalesce(seq, 0), timestamp, rowid' : 'timestamp, rowid';
  const stmt = db.prepare(`SELECT * FROM requests ORDER BY ${order}`);
  for (const row of stmt.iterate()) yield row as RequestsTable;
}
