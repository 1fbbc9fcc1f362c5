/**
 * requests.db schema. The `requests` table is a superset of claude-code-proxy's (same column names and JSON
 * shapes for `headers` and `response`), so their databases open as-is; our extra columns are added by
 * migration 1 with ALTER TABLE, which also upgrades a claude-code-proxy database in place when opened read-write.
 * The version lives in `PRAGMA user_version`.
 */

/** claude-code-proxy's original columns, verbatim. */
export const CC_PROXY_REQUESTS_DDL = `
CREATE TABLE IF NOT EXISTS requests (
  id TEXT PRIMARY KEY,
  timestamp DATETIME DEFAULT CURRENT_TIMESTAMP,
  method TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  headers TEXT NOT NULL,
  body TEXT NOT NULL,
  user_agent TEXT,
  content_type TEXT,
  prompt_grade TEXT,
  response TEXT,
  model TEXT,
  original_model TEXT,
  routed_model TEXT,
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_timestamp ON requests(timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_endpoint ON requests(endpoint);
CREATE INDEX IF NOT EXISTS idx_model ON requests(model);
`;

/** Columns `trace` adds (name → SQL type). Order is the order they are added. */
export const TRACE_REQUEST_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['session_id', 'TEXT'],
  ['is_streaming', 'INTEGER'],
  ['status', 'INTEGER'],
  ['started_at_ms', 'REAL'],
  ['ttft_ms', 'REAL'],
  ['duration_ms', 'REAL'],
  ['input_tokens', 'INTEGER'],
  ['output_tokens', 'INTEGER'],
  ['cache_read_input_tokens', 'INTEGER'],
  ['cache_creation_input_tokens', 'INTEGER'],
  ['stop_reason', 'TEXT'],
  ['message_id', 'TEXT'],
  ['error', 'TEXT'],
  /** JSON array of [offset_ms_from_request_start, event_name|null, data] — the raw SSE event list. */
  ['sse_events', 'TEXT'],
  /** Upstream URL the request was forwarded to. */
  ['upstream_url', 'TEXT'],
  /** Sequence number assigned by the capturing process (monotonic per process; ordering tie-break). */
  ['seq', 'INTEGER'],
  ['request_bytes', 'INTEGER'],
  ['response_bytes', 'INTEGER'],
  /** 'pending' while in flight, 'complete', 'error', 'aborted' (client went away). */
  ['state', 'TEXT'],
];

/** Written by src/store/conversation-index-repo.ts (one row per request; the whole table is rebuilt at once). */
export const CONVERSATION_INDEX_DDL = `
CREATE TABLE IF NOT EXISTS conversation_index (
  request_id TEXT PRIMARY KEY,
  conversation_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  parent_agent_id TEXT,
  is_subagent INTEGER NOT NULL,
  turn_index INTEGER NOT NULL,
  parent_request_id TEXT,
  spawned_by_request_id TEXT,
  duplicate_of TEXT,
  duplicate_kind TEXT,
  kind TEXT NOT NULL,
  side TEXT,
  linked_by TEXT NOT NULL,
  think_time_ms REAL,
  api_time_ms REAL
);
CREATE INDEX IF NOT EXISTS idx_ci_conversation ON conversation_index(conversation_id);
CREATE INDEX IF NOT EXISTS idx_ci_agent ON conversation_index(agent_id);
CREATE TABLE IF NOT EXISTS conversation_index_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`;

/**
 * Migration 3: where a row came from, and content-addressed bodies.
 * - `origin` (how the row got here: `capture`, `import:<kind>`), `origin_host` / `origin_user` (the capturing
 *   machine and OS user — never a secret): several proxies writing into one Postgres stay apart.
 * - compact bodies (src/store/body-codec.ts): `body_segments` (id = content hash of the raw segment, its raw
 *   length, its stored form: codec byte + compressed bytes) and `requests.body_skeleton` (the request's skeleton:
 *   literals + ordered segment references). A row whose `body_skeleton` is NULL keeps its raw body in `body`.
 */
export const ORIGIN_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['origin', 'TEXT'],
  ['origin_host', 'TEXT'],
  ['origin_user', 'TEXT'],
  ['body_skeleton', 'BLOB'],
];

export const BODY_SEGMENTS_DDL = `
CREATE TABLE IF NOT EXISTS body_segments (
  id TEXT PRIMARY KEY,
  raw_bytes INTEGER NOT NULL,
  data BLOB NOT NULL
);
`;

/**
 * SQLite's DDL in Postgres spelling: REAL is float4 there (double precision here), BLOB is bytea, DATETIME
 * defaults become text timestamps, INTEGER may hold epoch milliseconds and byte counts (bigint).
 */
export function toPostgresDdl(ddl: string): string {
  return ddl
    .replace(/DATETIME DEFAULT CURRENT_TIMESTAMP/g, 'TEXT DEFAULT (now()::text)')
    .replace(/\bREAL\b/g, 'DOUBLE PRECISION')
    .replace(/\bBLOB\b/g, 'BYTEA')
    .replace(/\bINTEGER\b/g, 'BIGINT');
}

export interface SqliteMigrationContext {
  exec(sql: string): void;
  hasColumn(table: string, column: string): boolean;
}

/**
 * One ordered list for both dialects: `sqlite` runs inside one transaction (it may inspect the schema: a
 * claude-code-proxy database is upgraded in place), `postgres` is the list of statements for a fresh server
 * schema (run in one transaction under an advisory lock, so proxies starting together migrate once).
 */
export interface Migration {
  version: number;
  description: string;
  sqlite: (m: SqliteMigrationContext) => void;
  postgres: () => string[];
}

function statements(ddl: string): string[] {
  return ddl.split(';').map((s) => s.trim()).filter(Boolean);
}

function requestIndexes(): string[] {
  return [
    'CREATE INDEX IF NOT EXISTS idx_requests_started ON requests(started_at_ms)',
    'CREATE INDEX IF NOT EXISTS idx_requests_session ON requests(session_id)',
    'CREATE INDEX IF NOT EXISTS idx_requests_message ON requests(message_id)',
  ];
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'claude-code-proxy requests table + trace capture columns',
    sqlite({ exec, hasColumn }) {
      exec(CC_PROXY_REQUESTS_DDL);
      for (const [name, type] of TRACE_REQUEST_COLUMNS) {
        if (!hasColumn('requests', name)) exec(`ALTER TABLE requests ADD COLUMN ${name} ${type}`);
      }
      for (const sql of requestIndexes()) exec(sql);
    },
    postgres: () => [
      ...statements(toPostgresDdl(CC_PROXY_REQUESTS_DDL)),
      ...TRACE_REQUEST_COLUMNS.map(([name, type]) => toPostgresDdl(`ALTER TABLE requests ADD COLUMN IF NOT EXISTS ${name} ${type}`)),
      ...requestIndexes(),
    ],
  },
  {
    version: 2,
    description: 'conversation_index: conversation / agent / turn of each request (rebuilt by trace analyze)',
    sqlite: ({ exec }) => exec(CONVERSATION_INDEX_DDL),
    postgres: () => statements(toPostgresDdl(CONVERSATION_INDEX_DDL)),
  },
  {
    version: 3,
    description: 'origin of each row (capture host/user, importer) and content-addressed body segments',
    sqlite({ exec, hasColumn }) {
      for (const [name, type] of ORIGIN_COLUMNS) {
        if (!hasColumn('requests', name)) exec(`ALTER TABLE requests ADD COLUMN ${name} ${type}`);
      }
      exec(BODY_SEGMENTS_DDL);
      exec('CREATE INDEX IF NOT EXISTS idx_requests_origin ON requests(origin_host, origin_user)');
    },
    postgres: () => [
      ...ORIGIN_COLUMNS.map(([name, type]) => toPostgresDdl(`ALTER TABLE requests ADD COLUMN IF NOT EXISTS ${name} ${type}`)),
      ...statements(toPostgresDdl(BODY_SEGMENTS_DDL)),
      'CREATE INDEX IF NOT EXISTS idx_requests_origin ON requests(origin_host, origin_user)',
      // Keyset pagination of the readers (capture order, see sources/postgres-source.ts).
      'CREATE INDEX IF NOT EXISTS idx_requests_order ON requests((coalesce(started_at_ms, 0)), (coalesce(seq, 0)), id)',
    ],
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
