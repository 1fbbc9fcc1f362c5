import { describeSqliteFailure, openDb, hasColumn, hasTable, type Db } from '../db.js';
import { iterateRequests } from '../requests-repo.js';
import type { RequestsTable } from '../db-types.js';
import type { TraceRequest } from '../../shared/trace-record.js';
import { SourceError, StoreError, errorMessage } from '../../shared/errors.js';
import type { OpenSourceOptions, OpenedSource, SourceProbe, SourceStats } from './source.js';
import { rowToTraceRequest } from './requests-row.js';
import { BodyDeltaParser } from './body-delta.js';
import { SegmentCache, decodeBody, decompressSegment } from '../body-codec.js';

/** Shared plumbing of the two SQLite importers (trace-db, cc-proxy-db). Both open the file READ-ONLY. */

export const SQLITE_MAGIC = 'SQLite format 3\u0000';

export function isSqlite(probe: SourceProbe): boolean {
  return !probe.isDirectory && probe.head !== null && probe.head.subarray(0, 16).toString('latin1') === SQLITE_MAGIC;
}

/**
 * 'trace' when the requests table has our columns, 'cc-proxy' when it has only claude-code-proxy's, null when it
 * has none. A file that is SQLite (by its magic) but cannot be read throws a SourceError saying what is wrong
 * with it (damaged, truncated, WAL in a directory we cannot write) rather than "cannot recognise".
 */
export function sqliteFlavour(path: string): 'trace' | 'cc-proxy' | null {
  let db: Db | undefined;
  try {
    db = openDb(path, { readonly: true });
    if (!hasTable(db, 'requests')) return null;
    return hasColumn(db, 'requests', 'started_at_ms') ? 'trace' : 'cc-proxy';
  } catch (e) {
    throw sqliteSourceError(path, e);
  } finally {
    db?.close();
  }
}

/** A SourceError with the one-line diagnosis of a SQLite failure (keeps an already-explained StoreError's text). */
export function sqliteSourceError(path: string, e: unknown): SourceError {
  if (e instanceof SourceError) return e;
  return new SourceError(e instanceof StoreError ? e.message : describeSqliteFailure(path, e, true), { cause: e });
}

/**
 * The rows of `requests` in iterateRequests' order (requests-repo.ts), read cheaply for big bodies: the order
 * is computed over rowids only (sorting whole rows spills ~0.5 GB of bodies to SQLite's sorter), then each row
 * is fetched by rowid with the body as its UTF-8 bytes (a Buffer: no string decode; the delta parser decodes
 * only new tails). Text bodies only: a non-text body reads as null, as JSON.parse of a non-string would.
 * Falls back to iterateRequests for a database that is not UTF-8.
 */
function* orderedRows(db: Db): Generator<Record<string, unknown>> {
  let rowids: number[] | null = null;
  let fetch: ReturnType<Db['prepare']> | null = null;
  // One read transaction: the same snapshot a single SELECT would see, even while `trace capture` writes.
  const own = !db.inTransaction;
  try {
    if (own) db.exec('BEGIN');
    const enc = db.pragma('encoding', { simple: true });
    if (enc === 'UTF-8') {
      const ours = hasColumn(db, 'requests', 'started_at_ms');
      const order = ours ? 'coalesce(started_at_ms, 0), coalesce(seq, 0), timestamp, rowid' : 'timestamp, rowid';
      const cols = (db.prepare(`PRAGMA table_info(requests)`).all() as { name: string }[]).map((c) => c.name).filter((n) => n !== 'body');
      const q = (n: string) => '"' + n.replace(/"/g, '""') + '"';
      fetch = db.prepare(`SELECT ${cols.map(q).join(', ')}, CASE WHEN typeof(body) = 'text' THEN CAST(body AS BLOB) END AS body FROM requests WHERE rowid = ?`);
      rowids = db.prepare(`SELECT rowid FROM requests ORDER BY ${order}`).pluck().all() as number[];
    }
    if (rowids && fetch) {
      for (const id of rowids) {
        const row = fetch.get(id) as Record<string, unknown> | undefined;
        if (row) yield row;
      }
      return;
    }
  } catch (e) {
    if (rowids && fetch) throw e; // a failure while reading rows, not a missing feature
  } finally {
    if (own && db.inTransaction) db.exec('COMMIT');
  }
  yield* iterateRequests(db) as Iterable<Record<string, unknown>>;
}

/**
 * One pass over `requests` rows (shared by the SQLite and Postgres sources): each row becomes a TraceRequest or is
 * skipped, counted and reported in one line. One delta parser per pass: bodies that extend a recent body of the
 * same conversation are parsed from their new tail only (identical result; see body-delta.ts; bounded memory).
 */
export class RowPass {
  private skipped = 0;
  private yielded = 0;
  private readonly delta = new BodyDeltaParser();
  private readonly parseBody: (t: string | null | undefined, k: string | null) => ReturnType<BodyDeltaParser['parse']>;
  constructor(
    private readonly path: string,
    private readonly kind: string,
    private readonly stats: SourceStats,
    private readonly options: OpenSourceOptions,
  ) {
    // The body may be a Buffer (UTF-8 bytes, SQLite fast path); the delta parser takes either.
    this.parseBody = (text, key) => this.delta.parse(text, key);
  }

  convert(row: Record<string, unknown>): TraceRequest | null {
    let r: TraceRequest;
    try {
      r = rowToTraceRequest(row as Partial<RequestsTable>, this.kind, this.parseBody);
    } catch (e) {
      this.skipped++;
      this.stats.skipped = Math.max(this.stats.skipped, this.skipped);
      this.options.logger.warn(`${this.path}: skipping malformed row ${String(row.id)}: ${errorMessage(e)}`);
      return null;
    }
    if (this.options.keepBodyText && r.body !== null) {
      const raw = row.body as unknown;
      if (typeof raw === 'string') r.bodyText = raw;
      else if (raw instanceof Uint8Array) r.bodyText = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
    }
    this.yielded++;
    this.stats.yielded = Math.max(this.stats.yielded, this.yielded);
    return r;
  }
}

/** Raw body segments by id from `body_segments` (decompressed; an LRU keeps the shared ones). */
function sqliteSegments(db: Db): (id: string) => Buffer | undefined {
  const get = db.prepare('SELECT data FROM body_segments WHERE id = ?').pluck();
  const cache = new SegmentCache();
  return (id) => {
    let raw = cache.get(id);
    if (!raw) {
      const stored = get.get(id) as Buffer | undefined;
      if (!stored) return undefined;
      cache.set(id, (raw = decompressSegment(stored)));
    }
    return raw;
  };
}

/**
 * A source reads its file front to back, bodies of ~100–400 KB each spread over 4 KB overflow pages. Unmapped,
 * SQLite makes ~3 pread syscalls per overflow page (strace: the body's CAST and the columns stored after it each
 * walk the chain); memory-mapped, it copies from the page cache: ~40 % less CPU for the rows of the analyze bench's
 * 467 MiB DB. Read-only connection; mapped pages count in RSS while read (released on close). A file shorter than
 * the map (truncated) is read as before and reported as damaged; SQLite's own writers never shrink a file under a
 * reader's snapshot, so only another program truncating it mid-read could fault the mapping.
 */
const READ_MMAP_BYTES = 1 << 30;

export function openSqliteSource(path: string, kind: string, options: OpenSourceOptions): OpenedSource {
  let db: Db;
  try {
    db = openDb(path, { readonly: true, mustExist: true });
  } catch (e) {
    throw sqliteSourceError(path, e);
  }
  let estimatedCount: number;
  try {
    db.pragma(`mmap_size = ${READ_MMAP_BYTES}`);
    if (!hasTable(db, 'requests')) throw new SourceError(`${path} has no "requests" table`);
    estimatedCount = (db.prepare('SELECT count(*) AS n FROM requests').get() as { n: number }).n;
  } catch (e) {
    db.close();
    throw sqliteSourceError(path, e);
  }
  const stats: SourceStats = { skipped: 0, yielded: 0 };
  let closed = false;
  let segmentGetter: ((id: string) => Buffer | undefined) | null = null;
  const segments = () => (segmentGetter ??= sqliteSegments(db));
  function* requests(): Generator<TraceRequest> {
    const pass = new RowPass(path, kind, stats, options);
    const rows = orderedRows(db);
    for (;;) {
      let next: IteratorResult<Record<string, unknown>>;
      try {
        next = rows.next();
      } catch (e) {
        // A damaged page met mid-table: say so (with how far the read got), not an internal error.
        const err = sqliteSourceError(path, e);
        err.message += ` (after ${stats.yielded + stats.skipped} rows)`;
        throw err;
      }
      if (next.done) return;
      const row = next.value;
      // A compact body (body codec): reassembled byte-exact from its skeleton and the shared segments.
      if (row.body_skeleton) row.body = decodeBody(row.body_skeleton as Uint8Array, segments());
      const r = pass.convert(row);
      if (r) yield r;
    }
  }
  return {
    kind,
    path,
    level: 'content',
    estimatedCount,
    requests,
    stats,
    close() {
      if (!closed) db.close();
      closed = true;
    },
  };
}
