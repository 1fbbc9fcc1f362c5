/**
 * Where capture puts its rows. The handler calls `write` twice per request (a `pending` row on arrival, the
 * completed row at the end — same id; the completion updates the row without resending body/headers) and never lets a throw from here reach the forwarding path.
 */
import type { Db } from '../store/db.js';
import { writeCaptureRow, writeCaptureRows, type RequestRowInput } from '../store/requests-repo.js';
import { compactStoredBodies, compactStoredBodiesSync, withOrigin, type RowOrigin, type Store } from '../store/store.js';

export interface RequestWriter {
  /** May throw synchronously (the handler catches, counts and reports). */
  write(row: RequestRowInput): void;
  /** Writes whatever is queued now (batching writers; resolves once written for async stores); a no-op for immediate writers. */
  flush?(): void | Promise<void>;
}

/**
 * Writes each row immediately (WAL, one implicit transaction per row): the pending row with a prepared upsert,
 * the completion with an UPDATE that does not resend body/headers (full upsert if the pending row is missing).
 */
export function createDbWriter(db: Db): RequestWriter {
  return { write: (row) => writeCaptureRow(db, row) };
}

export interface BatchingWriterOptions {
  /** Called for each row that could not be written (errors surface here, not from `write`). */
  onError: (e: unknown, row: RequestRowInput) => void;
  /** Schedules the flush (default: setImmediate, i.e. once per event-loop turn). */
  schedule?: (fn: () => void) => void;
  /** Fills each row's origin columns (capture host/user) where the row leaves them empty. */
  origin?: RowOrigin;
}

/**
 * Queues rows and writes everything queued in one transaction per event-loop turn — many concurrent streams then
 * cost one commit per turn instead of one per row. If the batch fails, rows are retried one by one so a single bad
 * row only loses itself; each failure goes to `onError`.
 */
export function createBatchingDbWriter(db: Db, options: BatchingWriterOptions): RequestWriter & { flush(): void; readonly queued: number } {
  const schedule = options.schedule ?? ((fn) => void setImmediate(fn));
  let queue: RequestRowInput[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (queue.length === 0) return;
    const rows = options.origin ? queue.map((r) => withOrigin(r, options.origin)) : queue;
    queue = [];
    try {
      writeCaptureRows(db, rows);
    } catch {
      for (const r of rows) {
        try {
          writeCaptureRow(db, r);
        } catch (e) {
          options.onError(e, r);
        }
      }
    }
  };
  return {
    write(row) {
      queue.push(row);
      if (!scheduled) {
        scheduled = true;
        schedule(flush);
      }
    },
    flush,
    get queued() {
      return queue.length;
    },
  };
}

/**
 * The async twin for a server store (Postgres): rows queue while one batch is in flight and the next batch takes
 * everything queued meanwhile, each in one transaction (one round trip per row inside it, no connection per
 * stream). Rows of one request stay in order (pending before completion). A failed batch is retried row by row;
 * each row that still fails goes to `onError`. `flush()` resolves once everything queued so far is written.
 */
export function createAsyncBatchingWriter(
  writeBatch: (rows: readonly RequestRowInput[]) => Promise<void>,
  options: Omit<BatchingWriterOptions, 'schedule'>,
): RequestWriter & { flush(): Promise<void>; readonly queued: number } {
  let queue: RequestRowInput[] = [];
  let running: Promise<void> | null = null;
  const drain = async () => {
    while (queue.length > 0) {
      const rows = options.origin ? queue.map((r) => withOrigin(r, options.origin)) : queue;
      queue = [];
      try {
        await writeBatch(rows);
      } catch {
        for (const r of rows) {
          try {
            await writeBatch([r]);
          } catch (e) {
            options.onError(e, r);
          }
        }
      }
    }
  };
  const kick = () => {
    running ??= drain().finally(() => {
      running = null;
      if (queue.length > 0) kick();
    });
    return running;
  };
  return {
    write(row) {
      queue.push(row);
      void kick();
    },
    async flush() {
      while (running || queue.length > 0) await kick();
    },
    get queued() {
      return queue.length;
    },
  };
}

export interface StoreWriterOptions extends Omit<BatchingWriterOptions, 'schedule'> {
  /**
   * Store bodies compact (docs/store.md "Compact bodies"): once a row's completion is written — the response has
   * been forwarded — its raw body is encoded into shared segments in the background, never on the request path.
   */
  compactBodies?: boolean;
}

/** The capture writer for a store: the synchronous batched writer on SQLite (latency), the async one elsewhere. */
export function createStoreWriter(store: Store, options: StoreWriterOptions): RequestWriter & { flush(): void | Promise<void> } {
  const inner = store.sqlite ? createBatchingDbWriter(store.sqlite, options) : createAsyncBatchingWriter((rows) => store.writeCaptureRows(rows), options);
  if (!options.compactBodies) return inner;
  // Completed rows are compacted in batches after their completion was written (the row writer's own batches go
  // first: a compaction batch is queued behind the turn that writes those completions).
  const compactor = createAsyncBatchingWriter(async (rows) => {
    await new Promise<void>((r) => setImmediate(r));
    await inner.flush();
    const ids = rows.map((r) => r.id);
    if (store.sqlite) compactStoredBodiesSync(store.sqlite, ids);
    else await compactStoredBodies(store, ids);
  }, { onError: options.onError });
  return {
    write(row) {
      inner.write(row);
      if (row.state && row.state !== 'pending') compactor.write(row);
    },
    async flush() {
      await inner.flush();
      await compactor.flush();
    },
  };
}
