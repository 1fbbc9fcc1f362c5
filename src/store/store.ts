import pg from 'pg';
import { Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import { StoreError, errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { describeSqliteFailure, hasTable, kyselyFor, openDb, type Db } from './db.js';
import type { DatabaseSchema, RequestsTable } from './db-types.js';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.js';
import { PENDING_ONLY, WRITABLE, bind, writeCaptureRows, type RequestRowInput } from './requests-repo.js';
import type { DbTarget } from './target.js';
import { KyselySegmentStore } from './segment-store.js';
import { encodeBody, segmentsToStore, writeBody } from './body-codec.js';

/**
 * One store interface over kysely, two dialects: SQLite (better-sqlite3, the embedded default) and Postgres (`pg`,
 * for a team: many proxies write into one server). Everything that must run on both goes through `db` (kysely);
 * SQLite additionally exposes its raw connection (`sqlite`) for the two hot paths that kysely would slow down —
 * capture's synchronous batched writer and the analyzers' rowid-ordered body reads (see sources/sqlite-source.ts).
 */
export interface Store {
  readonly target: DbTarget;
  readonly dialect: DbTarget['dialect'];
  readonly db: Kysely<DatabaseSchema>;
  /** The raw better-sqlite3 connection (SQLite only). */
  readonly sqlite: Db | null;
  /**
   * Inserts rows that are not there yet (by `id`; re-inserting the same ids is a no-op, so an importer that
   * derives ids from its records' content can run twice). `origin` fields fill the row's origin columns where
   * the row leaves them empty.
   */
  insertRequests(rows: readonly RequestRowInput[], origin?: RowOrigin, options?: InsertOptions): Promise<InsertResult>;
  /** Capture's rows: a `pending` row is upserted, a finished one completes it (body/headers not resent). */
  writeCaptureRows(rows: readonly RequestRowInput[]): Promise<void>;
  countRequests(): Promise<number>;
  /**
   * Runs `fn` so that body segments cannot be swept under it: `write` (a writer checking which segments exist,
   * adding the missing ones and storing the skeletons that reference them) and `sweep` (prune's orphan sweep)
   * exclude each other, writers do not exclude writers. Postgres: one transaction holding a shared / exclusive
   * advisory lock. SQLite: one `BEGIN IMMEDIATE` transaction (SQLite has one writer at a time; it waits for the
   * write lock up to the busy timeout). Not for a connection that capture's synchronous writer also uses: capture
   * compacts through `compactStoredBodiesSync`.
   */
  withSegmentLock<T>(mode: 'write' | 'sweep', fn: (db: Kysely<DatabaseSchema>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface RowOrigin {
  /** `capture`, `import:<kind>`. */
  origin?: string | null;
  host?: string | null;
  user?: string | null;
}

export interface InsertOptions {
  /**
   * Store bodies compact (src/store/body-codec.ts): `body` becomes '' and `body_skeleton` references shared,
   * compressed `body_segments`; readers reassemble them byte-exact. claude-code-proxy then sees empty bodies.
   */
  compactBodies?: boolean;
}

export interface InsertResult {
  inserted: number;
  /** Rows whose id was already stored. */
  existing: number;
}

export interface OpenStoreOptions {
  /** No migration, no writes (Postgres: read-only transactions). */
  readonly?: boolean;
  /** Fail unless the database exists and holds a `requests` table. */
  mustExist?: boolean;
  /** Postgres pool size (default 4). */
  maxConnections?: number;
  logger?: Logger;
}

/** Rows per INSERT statement (SQLite allows 32766 bound values; 200 × 40 columns stays far below). */
const INSERT_CHUNK = 200;

export function withOrigin(row: RequestRowInput, origin: RowOrigin | undefined): RequestRowInput {
  if (!origin) return row;
  return {
    ...row,
    origin: row.origin ?? origin.origin ?? null,
    origin_host: row.origin_host ?? origin.host ?? null,
    origin_user: row.origin_user ?? origin.user ?? null,
  };
}

/** The row with its body moved into segments + skeleton (rows already compact, or without a body, as they are). */
async function compactRow<R extends Pick<RequestRowInput, 'body' | 'body_skeleton' | 'request_bytes'>>(segments: KyselySegmentStore, row: R): Promise<R> {
  if (row.body_skeleton || !row.body) return row;
  const w = await writeBody(segments, row.body);
  return { ...row, body: '', body_skeleton: w.skeleton, request_bytes: row.request_bytes ?? w.size };
}

/**
 * Moves the raw bodies of stored rows (those ids) into compact segments: `body` becomes '' and `body_skeleton`
 * references shared `body_segments`. Rows already compact or without a body are left as they are. Capture's
 * `--compact-bodies` runs this after a response has been forwarded and its row completed. Returns rows compacted.
 */
export async function compactStoredBodies(store: Pick<Store, 'withSegmentLock'>, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) return 0;
  return store.withSegmentLock('write', (db) => compactRows(db, ids));
}

/**
 * compactStoredBodies for capture's own SQLite connection: each row in one synchronous transaction (check which
 * segments exist, insert the missing ones, store the skeleton) — atomic against another process's prune, and
 * never interleaved with the capture's synchronous batch writer on the same connection. Returns rows compacted.
 */
export function compactStoredBodiesSync(raw: Db, ids: readonly string[]): number {
  const get = raw.prepare('SELECT body, body_skeleton, request_bytes FROM requests WHERE id = ?');
  const has = raw.prepare('SELECT 1 FROM body_segments WHERE id = ?').pluck();
  const put = raw.prepare('INSERT INTO body_segments (id, raw_bytes, data) VALUES (?, ?, ?) ON CONFLICT(id) DO NOTHING');
  const set = raw.prepare("UPDATE requests SET body = '', body_skeleton = ?, request_bytes = ? WHERE id = ?");
  const one = raw.transaction((id: string): boolean => {
    const r = get.get(id) as { body: string | null; body_skeleton: Buffer | null; request_bytes: number | null } | undefined;
    if (!r || r.body_skeleton || !r.body) return false;
    const enc = encodeBody(r.body);
    const missing = new Set(enc.segments.filter((seg) => has.get(seg.id) === undefined).map((seg) => seg.id));
    for (const seg of segmentsToStore(enc, missing)) put.run(seg.id, seg.rawBytes, seg.stored);
    set.run(enc.skeleton, r.request_bytes ?? enc.size, id);
    return true;
  });
  let n = 0;
  for (const id of ids) if (one.immediate(id)) n++;
  return n;
}

async function compactRows(db: Kysely<DatabaseSchema>, ids: readonly string[]): Promise<number> {
  const segments = new KyselySegmentStore(db);
  const rows = await db.selectFrom('requests').select(['id', 'body', 'body_skeleton', 'request_bytes']).where('id', 'in', [...ids]).execute();
  let n = 0;
  for (const r of rows) {
    const c = await compactRow(segments, r);
    if (c === r) continue;
    await db
      .updateTable('requests')
      .set({ body: c.body, body_skeleton: c.body_skeleton, request_bytes: c.request_bytes } as never)
      .where('id', '=', r.id)
      .execute();
    n++;
  }
  return n;
}

async function insertChunks(store: Pick<Store, 'db' | 'withSegmentLock'>, rows: readonly RequestRowInput[], origin: RowOrigin | undefined, options: InsertOptions = {}): Promise<InsertResult> {
  let inserted = 0;
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    const chunk = rows.slice(i, i + INSERT_CHUNK);
    // Compact chunks hold the segment lock from checking which segments exist until their skeletons are stored.
    inserted += options.compactBodies ? await store.withSegmentLock('write', (db) => insertChunk(db, chunk, origin, true)) : await insertChunk(store.db, chunk, origin, false);
  }
  return { inserted, existing: rows.length - inserted };
}

async function insertChunk(db: Kysely<DatabaseSchema>, rows: readonly RequestRowInput[], origin: RowOrigin | undefined, compact: boolean): Promise<number> {
  let chunk = rows;
  if (compact) {
    // Only rows not stored yet are encoded (re-imports stay cheap and write no segments).
    const segments = new KyselySegmentStore(db);
    const have = new Set((await db.selectFrom('requests').select('id').where('id', 'in', chunk.map((r) => r.id)).execute()).map((r) => r.id));
    const fresh: RequestRowInput[] = [];
    for (const r of chunk) if (!have.has(r.id)) fresh.push(await compactRow(segments, r));
    chunk = fresh;
    if (chunk.length === 0) return 0;
  }
  const values = chunk.map((r) => bind(withOrigin(r, origin)) as unknown as RequestsTable);
  const res = await db
    .insertInto('requests')
    .values(values)
    .onConflict((oc) => oc.column('id').doNothing())
    .executeTakeFirst();
  return Number(res.numInsertedOrUpdatedRows ?? 0n);
}

async function count(db: Kysely<DatabaseSchema>): Promise<number> {
  const r = await db.selectFrom('requests').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

/** A Store: the dialect's own members plus the ones every dialect runs through kysely. */
function storeOn(db: Kysely<DatabaseSchema>, own: Pick<Store, 'target' | 'dialect' | 'sqlite' | 'writeCaptureRows' | 'withSegmentLock' | 'close'>): Store {
  const store: Store = { ...own, db, insertRequests: (rows, origin, opts) => insertChunks(store, rows, origin, opts), countRequests: () => count(db) };
  return store;
}

function sqliteSegmentLock(db: Kysely<DatabaseSchema>): Store['withSegmentLock'] {
  return (_mode, fn) =>
    db.connection().execute(async (conn) => {
      await sql`BEGIN IMMEDIATE`.execute(conn);
      try {
        const r = await fn(conn);
        await sql`COMMIT`.execute(conn);
        return r;
      } catch (e) {
        await sql`ROLLBACK`.execute(conn);
        throw e;
      }
    });
}

/** Postgres advisory lock key of the body-segment lock (Store.withSegmentLock). */
const SEGMENT_LOCK = 7_311_853_002;

function pgSegmentLock(db: Kysely<DatabaseSchema>): Store['withSegmentLock'] {
  return (mode, fn) =>
    db.transaction().execute(async (trx) => {
      if (mode === 'write') await sql`SELECT pg_advisory_xact_lock_shared(${SEGMENT_LOCK})`.execute(trx);
      else await sql`SELECT pg_advisory_xact_lock(${SEGMENT_LOCK})`.execute(trx);
      return fn(trx);
    });
}

// ---------------------------------------------------------------------------------------------------- SQLite

function openSqliteStore(target: Extract<DbTarget, { dialect: 'sqlite' }>, options: OpenStoreOptions): Store {
  const raw = openDb(target.path, { readonly: options.readonly, mustExist: options.mustExist });
  if (options.readonly || options.mustExist) {
    try {
      if (!hasTable(raw, 'requests')) throw new StoreError(`${target.path} has no "requests" table (capture or import into it first)`);
    } catch (e) {
      raw.close();
      throw e instanceof StoreError ? e : new StoreError(describeSqliteFailure(target.path, e, options.readonly ?? false), { cause: e });
    }
  }
  const db = kyselyFor(raw);
  return storeOn(db, {
    target,
    dialect: 'sqlite',
    sqlite: raw,
    async writeCaptureRows(rows) {
      writeCaptureRows(raw, rows as RequestRowInput[]);
    },
    withSegmentLock: sqliteSegmentLock(db),
    async close() {
      if (raw.open) raw.close();
    },
  });
}

// -------------------------------------------------------------------------------------------------- Postgres

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/** bigint / numeric come back as JS numbers (counts, epoch ms and byte sizes stay far below 2^53). */
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format ?? 'text');
  },
};

const MIGRATION_LOCK = 7_311_853_001;

async function migratePostgres(db: Kysely<DatabaseSchema>): Promise<number> {
  return db.transaction().execute(async (trx: Transaction<DatabaseSchema>) => {
    await sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`.execute(trx);
    await sql`CREATE TABLE IF NOT EXISTS trace_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`.execute(trx);
    const row = await sql<{ value: string }>`SELECT value FROM trace_meta WHERE key = 'schema_version'`.execute(trx);
    const current = Number(row.rows[0]?.value ?? 0);
    if (current > SCHEMA_VERSION) {
      throw new StoreError(`database schema version ${current} is newer than this trace (${SCHEMA_VERSION}); upgrade trace`);
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      for (const stmt of m.postgres()) await sql.raw(stmt).execute(trx);
    }
    await sql`INSERT INTO trace_meta (key, value) VALUES ('schema_version', ${String(SCHEMA_VERSION)})
              ON CONFLICT (key) DO UPDATE SET value = excluded.value`.execute(trx);
    return SCHEMA_VERSION;
  });
}

/** Upsert where non-null values win (capture's pending row, or a completion whose pending row is missing). */
async function upsertPg(trx: Kysely<DatabaseSchema>, row: RequestRowInput): Promise<void> {
  const values = bind(row) as unknown as RequestsTable;
  await trx
    .insertInto('requests')
    .values(values)
    .onConflict((oc) =>
      oc.column('id').doUpdateSet(
        Object.fromEntries(
          WRITABLE.filter((c) => c !== 'id').map((c) => [c, sql`coalesce(excluded.${sql.ref(c)}, requests.${sql.ref(c)})`]),
        ) as never,
      ),
    )
    .execute();
}

/** The completion UPDATE (body/headers not sent again); false when the row is not there. */
async function completePg(trx: Kysely<DatabaseSchema>, row: RequestRowInput): Promise<boolean> {
  const values = bind(row, PENDING_ONLY);
  const set = Object.fromEntries(
    WRITABLE.filter((c) => !PENDING_ONLY.has(c)).map((c) => [c, sql`coalesce(${values[c]}, ${sql.ref(c)})`]),
  );
  const res = await trx.updateTable('requests').set(set as never).where('id', '=', row.id).executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

export async function writeCaptureRowsPg(db: Kysely<DatabaseSchema>, rows: readonly RequestRowInput[]): Promise<void> {
  await db.transaction().execute(async (trx) => {
    for (const r of rows) {
      if (r.state && r.state !== 'pending' && (await completePg(trx, r))) continue;
      await upsertPg(trx, r);
    }
  });
}

async function openPostgresStore(target: Extract<DbTarget, { dialect: 'postgres' }>, options: OpenStoreOptions): Promise<Store> {
  const pool = new pg.Pool({
    connectionString: target.url,
    max: options.maxConnections ?? 4,
    types: pgTypes,
    ...(options.readonly ? { options: '-c default_transaction_read_only=on' } : {}),
  });
  // An idle connection dropped by the server must not crash the process; the next query reports the failure.
  pool.on('error', (e) => options.logger?.warn(`postgres ${target.display}: ${errorMessage(e)}`));
  const db = new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool }) });
  try {
    await sql`SELECT 1`.execute(db);
  } catch (e) {
    await db.destroy().catch(() => undefined);
    throw new StoreError(`cannot connect to ${target.display}: ${errorMessage(e)}`, { cause: e });
  }
  try {
    if (!options.readonly) await migratePostgres(db);
    if (options.mustExist || options.readonly) {
      const t = await sql<{ n: number }>`SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'requests'`.execute(db);
      if (Number(t.rows[0]?.n ?? 0) === 0) throw new StoreError(`${target.display} has no "requests" table (capture or import into it first)`);
    }
  } catch (e) {
    await db.destroy().catch(() => undefined);
    if (e instanceof StoreError) throw e;
    throw new StoreError(`cannot prepare ${target.display}: ${errorMessage(e)}`, { cause: e });
  }
  return storeOn(db, { target, dialect: 'postgres', sqlite: null, writeCaptureRows: (rows) => writeCaptureRowsPg(db, rows), withSegmentLock: pgSegmentLock(db), close: () => db.destroy() });
}

/** Opens (and unless read-only, migrates) the store a `--db` target names. Throws StoreError (E_STORE). */
export async function openStore(target: DbTarget, options: OpenStoreOptions = {}): Promise<Store> {
  return target.dialect === 'sqlite' ? openSqliteStore(target, options) : openPostgresStore(target, options);
}
