import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { StoreError, UsageError, errorMessage } from '../../shared/errors.js';
import { CC_PROXY_REQUESTS_DDL } from '../schema.js';
import type { RequestRowInput } from '../requests-repo.js';

/** claude-code-proxy's columns that a trace row fills (the rest stay NULL / their defaults). */
const CC_COLUMNS = ['id', 'timestamp', 'method', 'endpoint', 'headers', 'body', 'user_agent', 'content_type', 'response', 'model'] as const;

/**
 * A claude-code-proxy-compatible SQLite file: only their `requests` table (CC_PROXY_REQUESTS_DDL, none of our
 * columns, `user_version` 0), raw bodies in `body`, for tools that read that table. Refuses an existing file.
 */
export class CcProxyDbWriter {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  written = 0;

  constructor(readonly path: string) {
    if (existsSync(path)) throw new UsageError(`${path} exists: trace export writes a new claude-code-proxy database`);
    try {
      this.db = new Database(path);
      this.db.exec(CC_PROXY_REQUESTS_DDL);
    } catch (e) {
      throw new StoreError(`cannot create ${path}: ${errorMessage(e)}`, { cause: e });
    }
    this.insert = this.db.prepare(`INSERT INTO requests (${CC_COLUMNS.join(', ')}) VALUES (${CC_COLUMNS.map((c) => '@' + c).join(', ')})`);
  }

  /** Writes one batch in a transaction. */
  write(rows: readonly RequestRowInput[]): void {
    this.db.transaction(() => {
      for (const r of rows) {
        this.insert.run(Object.fromEntries(CC_COLUMNS.map((c) => [c, r[c] ?? null])));
        this.written++;
      }
    })();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
