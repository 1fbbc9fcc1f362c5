/**
 * Where capture puts its rows. The handler calls `write` twice per request (a `pending` row on arrival, the
 * completed row at the end — same id; the completion updates the row without resending body/headers) and never lets a throw from here reach the forwarding path.
 */
import type { Db } from '../store/db.js';
import { writeCaptureRow, writeCaptureRows, type RequestRowInput } from '../store/requests-repo.js';

export interface RequestWriter {
  /** May throw synchronously (the handler catches, counts and reports). */
  write(row: RequestRowInput): void;
  /** Writes whatever is queued now (batching writers); a no-op for immediate writers. */
  flush?(): void;
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
    const rows = queue;
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
