import { existsSync, rmSync, statSync } from 'node:fs';
import { StoreError } from '../shared/errors.js';
import { openDb } from '../store/db.js';
import { countRequests, upsertRequests, type RequestRowInput } from '../store/requests-repo.js';

/**
 * Writes synthetic rows into a fresh requests.db at `path` (our schema, via upsertRequests). An existing file is
 * replaced only with `force`. The result is a single self-contained file (rollback journal, vacuumed), ready to
 * commit. Returns the file size in bytes.
 */
export function writeSyntheticDb(path: string, rows: RequestRowInput[], opts: { force?: boolean } = {}): number {
  if (existsSync(path)) {
    if (!opts.force) throw new StoreError(`${path} already exists (use --force to replace it)`);
    for (const p of [path, `${path}-wal`, `${path}-shm`]) rmSync(p, { force: true });
  }
  const db = openDb(path);
  try {
    upsertRequests(db, rows);
    // created_at is not a writable column (SQLite fills in the wall clock); pin it to the synthetic send time
    // so the same seed gives byte-identical rows.
    db.prepare("UPDATE requests SET created_at = datetime(started_at_ms / 1000, 'unixepoch')").run();
    if (countRequests(db) !== rows.length) throw new StoreError(`wrote ${countRequests(db)} rows, expected ${rows.length}`);
    db.pragma('journal_mode = DELETE');
    db.exec('VACUUM');
  } finally {
    db.close();
  }
  return statSync(path).size;
}
