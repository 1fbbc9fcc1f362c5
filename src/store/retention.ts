import { sql, type Kysely } from 'kysely';
import type { DatabaseSchema } from './db-types.js';
import { decompressSegment, runSegmentRefs, skeletonRefs } from './body-codec.js';
import { KyselySegmentStore } from './segment-store.js';
import type { Store } from './store.js';

/**
 * Retention for either dialect: `pruneRequests` (drop rows older than a cut-off, with their conversation-index
 * rows and the body segments no remaining request references), `vacuumStore` (give the space back), `storeStats`
 * (rows, sessions, bytes by table, compaction ratio). Queries go through kysely; only what has no portable
 * spelling (sizes on disk, VACUUM, byte length of a text column) branches on the dialect.
 */

export interface PruneOptions {
  /** Rows whose request started before this instant (epoch ms) are deleted. */
  beforeMs: number;
  /** Count only, delete nothing. */
  dryRun?: boolean;
}

export interface PruneResult {
  before: string;
  requests: number;
  conversationIndexRows: number;
  bodySegments: number;
  dryRun: boolean;
}

/** A row's time: started_at_ms, or (claude-code-proxy rows) its `timestamp` text compared as an ISO string. */
function olderThan(beforeMs: number) {
  const iso = new Date(beforeMs).toISOString();
  return sql<boolean>`(started_at_ms < ${beforeMs} OR (started_at_ms IS NULL AND timestamp < ${iso}))`;
}

const SEGMENT_CHUNK = 500;

/**
 * Segment ids no stored skeleton references, directly or through a run segment (whose raw bytes name further
 * leaves). Skeletons are small; only ids are held in memory.
 */
async function orphanSegments(db: Kysely<DatabaseSchema>): Promise<string[]> {
  const stored = await db.selectFrom('body_segments').select('id').execute();
  if (stored.length === 0) return [];
  const live = new Set<string>();
  const runs = new Set<string>();
  const skeletons = await db.selectFrom('requests').select('body_skeleton').where('body_skeleton', 'is not', null).execute();
  for (const s of skeletons) {
    const refs = skeletonRefs(s.body_skeleton!);
    for (const id of refs.ids) live.add(id);
    for (const id of refs.runs) runs.add(id);
  }
  const segments = new KyselySegmentStore(db);
  for (const [id, data] of await segments.getMany([...runs])) for (const leaf of runSegmentRefs(id, decompressSegment(data))) live.add(leaf);
  return stored.map((s) => s.id).filter((id) => !live.has(id));
}

export async function pruneRequests(store: Store, options: PruneOptions): Promise<PruneResult> {
  const before = new Date(options.beforeMs).toISOString();
  const cond = olderThan(options.beforeMs);
  if (options.dryRun) {
    const n = await store.db.selectFrom('requests').select((eb) => eb.fn.countAll<number>().as('n')).where(cond).executeTakeFirstOrThrow();
    return { before, requests: Number(n.n), conversationIndexRows: 0, bodySegments: 0, dryRun: true };
  }
  const { requests, conversationIndexRows } = await store.db.transaction().execute(async (trx) => {
    const del = await trx.deleteFrom('requests').where(cond).executeTakeFirst();
    const ci = await trx
      .deleteFrom('conversation_index')
      .where((eb) => eb.not(eb.exists(eb.selectFrom('requests').select('requests.id').whereRef('requests.id', '=', 'conversation_index.request_id'))))
      .executeTakeFirst();
    return { requests: Number(del.numDeletedRows), conversationIndexRows: Number(ci.numDeletedRows) };
  });
  // The index no longer describes the table: the next `trace analyze` rebuilds it.
  if (conversationIndexRows > 0) await store.db.deleteFrom('conversation_index_meta').execute();
  // The sweep excludes writers (Store.withSegmentLock): a segment a writer found present cannot go before its
  // skeleton is stored.
  const bodySegments = await store.withSegmentLock('sweep', async (db) => {
    let n = 0;
    const orphans = await orphanSegments(db);
    for (let i = 0; i < orphans.length; i += SEGMENT_CHUNK) {
      const r = await db.deleteFrom('body_segments').where('id', 'in', orphans.slice(i, i + SEGMENT_CHUNK)).executeTakeFirst();
      n += Number(r.numDeletedRows);
    }
    return n;
  });
  return { before, requests, conversationIndexRows, bodySegments, dryRun: false };
}

export interface VacuumResult {
  bytesBefore: number;
  bytesAfter: number;
  full: boolean;
}

/** Bytes the database occupies: the SQLite file plus its WAL; the Postgres database's size. */
async function databaseBytes(store: Store): Promise<number> {
  if (store.sqlite) {
    const pages = store.sqlite.pragma('page_count', { simple: true }) as number;
    const size = store.sqlite.pragma('page_size', { simple: true }) as number;
    return pages * size;
  }
  const r = await sql<{ n: number }>`SELECT pg_database_size(current_database()) AS n`.execute(store.db);
  return Number(r.rows[0]!.n);
}

/**
 * SQLite: checkpoint the WAL and rebuild the file (VACUUM: the file shrinks to its live pages). Postgres: VACUUM
 * ANALYZE our tables (space is reused, the files rarely shrink); `full` runs VACUUM FULL, which rewrites them and
 * locks each table while it does.
 */
export async function vacuumStore(store: Store, options: { full?: boolean } = {}): Promise<VacuumResult> {
  const bytesBefore = await databaseBytes(store);
  if (store.sqlite) {
    store.sqlite.pragma('wal_checkpoint(TRUNCATE)');
    store.sqlite.exec('VACUUM');
    store.sqlite.pragma('wal_checkpoint(TRUNCATE)');
  } else {
    const tables = sql.raw(['requests', 'conversation_index', 'conversation_index_meta', 'body_segments'].join(', '));
    if (options.full) await sql`VACUUM (FULL, ANALYZE) ${tables}`.execute(store.db);
    else await sql`VACUUM (ANALYZE) ${tables}`.execute(store.db);
  }
  return { bytesBefore, bytesAfter: await databaseBytes(store), full: store.sqlite ? true : Boolean(options.full) };
}

export interface StoreStats {
  dialect: 'sqlite' | 'postgres';
  rows: number;
  sessions: number;
  /** Distinct (origin_host, origin_user) pairs that captured rows. */
  capturers: number;
  /** Rows by state (complete, pending, error, aborted; `null` for rows without one). */
  states: Record<string, number>;
  firstStartedAtMs: number | null;
  lastStartedAtMs: number | null;
  /** Bytes on disk by table, indexes included. */
  bytesByTable: Record<string, number>;
  totalBytes: number;
  /** Request bodies: raw bytes vs stored bytes (raw bodies + skeletons + segments); ratio = raw / stored. */
  bodies: { compactRows: number; rawBytes: number; storedBytes: number; compactionRatio: number | null };
}

async function bytesByTable(store: Store): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  if (store.sqlite) {
    // dbstat: every b-tree's pages; indexes are attributed to their table.
    const rows = store.sqlite
      .prepare(`SELECT coalesce(m.tbl_name, d.name) AS t, sum(d.pgsize) AS n FROM dbstat d LEFT JOIN sqlite_schema m ON m.name = d.name GROUP BY t`)
      .all() as { t: string; n: number }[];
    for (const r of rows) out[r.t] = r.n;
    return out;
  }
  const r = await sql<{ t: string; n: number }>`SELECT relname AS t, pg_total_relation_size(relid) AS n FROM pg_stat_user_tables WHERE schemaname = current_schema()`.execute(store.db);
  for (const row of r.rows) out[row.t] = Number(row.n);
  return out;
}

/** Columns of a table as stored (an older or claude-code-proxy database opened read-only lacks ours). */
async function tableColumns(store: Store, table: string): Promise<Set<string>> {
  if (store.sqlite) return new Set((store.sqlite.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name));
  const r = await sql<{ c: string }>`SELECT column_name AS c FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ${table}`.execute(store.db);
  return new Set(r.rows.map((x) => x.c));
}

export async function storeStats(store: Store): Promise<StoreStats> {
  const db = store.db;
  const cols = await tableColumns(store, 'requests');
  const has = (c: string) => cols.has(c);
  const byteLen = (col: string) => (store.sqlite ? sql<number>`length(CAST(${sql.ref(col)} AS BLOB))` : sql<number>`octet_length(${sql.ref(col)})`);
  const compact = has('body_skeleton');
  const main = await db
    .selectFrom('requests')
    .select((eb) => [
      eb.fn.countAll<number>().as('rows'),
      has('session_id') ? eb.fn.count<number>('session_id').distinct().as('sessions') : sql<number>`0`.as('sessions'),
      has('started_at_ms') ? eb.fn.min('started_at_ms').as('first') : sql<null>`NULL`.as('first'),
      has('started_at_ms') ? eb.fn.max('started_at_ms').as('last') : sql<null>`NULL`.as('last'),
      compact ? sql<number>`count(body_skeleton)`.as('compact') : sql<number>`0`.as('compact'),
      compact
        ? sql<number>`coalesce(sum(CASE WHEN body_skeleton IS NULL THEN ${byteLen('body')} ELSE coalesce(request_bytes, 0) END), 0)`.as('raw')
        : sql<number>`coalesce(sum(${byteLen('body')}), 0)`.as('raw'),
      compact
        ? sql<number>`coalesce(sum(CASE WHEN body_skeleton IS NULL THEN ${byteLen('body')} ELSE ${byteLen('body_skeleton')} END), 0)`.as('stored')
        : sql<number>`coalesce(sum(${byteLen('body')}), 0)`.as('stored'),
    ])
    .executeTakeFirstOrThrow();
  const capturers = has('origin_host')
    ? await db
        .selectFrom((eb) => eb.selectFrom('requests').select(['origin_host', 'origin_user']).where('origin_host', 'is not', null).distinct().as('o'))
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow()
    : { n: 0 };
  const states = has('state') ? await db.selectFrom('requests').select((eb) => ['state', eb.fn.countAll<number>().as('n')]).groupBy('state').execute() : [];
  const segs = (await tableColumns(store, 'body_segments')).has('data')
    ? await db.selectFrom('body_segments').select(sql<number>`coalesce(sum(${byteLen('data')}), 0)`.as('n')).executeTakeFirstOrThrow()
    : { n: 0 };
  const tables = await bytesByTable(store);
  const raw = Number(main.raw);
  const stored = Number(main.stored) + Number(segs.n);
  return {
    dialect: store.dialect,
    rows: Number(main.rows),
    sessions: Number(main.sessions),
    capturers: Number(capturers.n),
    states: Object.fromEntries(states.map((s) => [s.state ?? 'null', Number(s.n)])),
    firstStartedAtMs: main.first === null ? null : Number(main.first),
    lastStartedAtMs: main.last === null ? null : Number(main.last),
    bytesByTable: tables,
    totalBytes: await databaseBytes(store),
    bodies: { compactRows: Number(main.compact), rawBytes: raw, storedBytes: stored, compactionRatio: stored > 0 ? raw / stored : null },
  };
}
