import { sql } from 'kysely';
import type { TraceRequest } from '../../shared/trace-record.js';
import { SourceError, StoreError, errorMessage } from '../../shared/errors.js';
import { openStore, type Store } from '../store.js';
import { isPostgresUrl, parseDbTarget, redactUrl } from '../target.js';
import type { OpenSourceOptions, OpenedSource, SourceImporter, SourceStats } from './source.js';
import { RowPass } from './sqlite-source.js';
import { KyselySegmentStore } from '../segment-store.js';
import { SegmentCache, readBody } from '../body-codec.js';

/**
 * `postgres`: a team store (`trace capture --db postgres://…`). Read-only (read-only transactions, no migration).
 * kysely is async, so this source offers `requestsAsync()` only: rows stream in capture order
 * (coalesce(started_at_ms, 0), coalesce(seq, 0), id) by keyset pagination over the index migration 3 creates —
 * PAGE rows per query, so memory is bounded by one page however large the table is.
 */

/** Rows per page: bodies are ~50-100 KB, so a page stays around 10-20 MB. */
export const POSTGRES_PAGE_ROWS = 200;

type Key = [number, number, string];

async function* pages(store: Store, pageRows: number): AsyncGenerator<Record<string, unknown>> {
  let after: Key | null = null;
  for (;;) {
    let q = store.db
      .selectFrom('requests')
      .selectAll()
      .select([sql<number>`coalesce(started_at_ms, 0)`.as('k_started'), sql<number>`coalesce(seq, 0)`.as('k_seq')]);
    if (after) {
      const [t, s, id] = after;
      q = q.where(sql<boolean>`(coalesce(started_at_ms, 0), coalesce(seq, 0), id) > (${t}::double precision, ${s}::bigint, ${id})`);
    }
    const rows = await q.orderBy(sql`coalesce(started_at_ms, 0)`).orderBy(sql`coalesce(seq, 0)`).orderBy('id').limit(pageRows).execute();
    for (const row of rows) yield row as Record<string, unknown>;
    if (rows.length < pageRows) return;
    const last = rows[rows.length - 1]!;
    after = [Number(last.k_started), Number(last.k_seq), last.id];
  }
}

export function openPostgresSource(url: string, options: OpenSourceOptions & { pageRows?: number }): OpenedSource {
  const display = redactUrl(url);
  const stats: SourceStats = { skipped: 0, yielded: 0 };
  const open: Store[] = [];
  async function* requestsAsync(): AsyncGenerator<TraceRequest> {
    let store: Store;
    try {
      store = await openStore(parseDbTarget(url, '/'), { readonly: true, mustExist: true, maxConnections: 1, logger: options.logger });
    } catch (e) {
      throw new SourceError(`cannot read ${display}: ${e instanceof StoreError ? e.message : errorMessage(e)}`, { cause: e });
    }
    open.push(store);
    try {
      const pass = new RowPass(display, 'postgres', stats, options);
      const segments = new KyselySegmentStore(store.db);
      const cache = new SegmentCache();
      for await (const row of pages(store, options.pageRows ?? POSTGRES_PAGE_ROWS)) {
        // A compact body: reassembled byte-exact (≤ 2 segment queries, most segments from the cache).
        if (row.body_skeleton) row.body = await readBody(segments, row.body_skeleton as Uint8Array, { cache });
        const r = pass.convert(row);
        if (r) yield r;
      }
    } finally {
      open.splice(open.indexOf(store), 1);
      await store.close();
    }
  }
  return {
    kind: 'postgres',
    path: display,
    level: 'content',
    estimatedCount: null,
    requests() {
      throw new SourceError(`${display} is a Postgres store: it is read asynchronously (iterateRequests)`);
    },
    requestsAsync,
    stats,
    close() {
      for (const s of open.splice(0)) s.close().catch((e) => options.logger.warn(`closing ${display}: ${errorMessage(e)}`));
    },
  };
}

export const postgresImporter: SourceImporter = {
  kind: 'postgres',
  description: 'a Postgres team store (postgres://user@host/db), read-only',
  level: 'content',
  detect: (p) => isPostgresUrl(p.path),
  open: (url, options) => openPostgresSource(url, options),
};
