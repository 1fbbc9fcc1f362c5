import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { StoreError, errorMessage } from '../shared/errors.js';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.js';
import type { DatabaseSchema } from './db-types.js';

export type Db = Database.Database;

export interface OpenDbOptions {
  /** Open without writing anything (no migrations, no WAL switch). For analysing someone else's DB. */
  readonly?: boolean;
  /** Fail instead of creating a new file. */
  mustExist?: boolean;
}

/**
 * Opens (and, unless read-only, migrates) a requests.db. WAL journal, synchronous=NORMAL, busy timeout.
 * Throws StoreError (code E_STORE) on failure.
 */
export function openDb(path: string, options: OpenDbOptions = {}): Db {
  let db: Db;
  try {
    db = new Database(path, {
      readonly: options.readonly ?? false,
      fileMustExist: options.mustExist ?? options.readonly ?? false,
    });
  } catch (e) {
    throw new StoreError(`cannot open database ${path}: ${errorMessage(e)}`, { cause: e });
  }
  try {
    db.pragma('busy_timeout = 5000');
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      migrate(db);
    }
  } catch (e) {
    db.close();
    if (e instanceof StoreError) throw e;
    throw new StoreError(`cannot prepare database ${path}: ${errorMessage(e)}`, { cause: e });
  }
  return db;
}

export function hasColumn(db: Db, table: string, column: string): boolean {
  const rows = db.prepare(`PRAGMA table_info(${JSON.stringify(table)})`).all() as { name: string }[];
  return rows.some((r) => r.name === column);
}

export function hasTable(db: Db, table: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?").get(table) !== undefined;
}

export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** Applies every migration newer than `PRAGMA user_version`, each in its own transaction. */
export function migrate(db: Db): number {
  const current = schemaVersion(db);
  if (current > SCHEMA_VERSION) {
    throw new StoreError(`database schema version ${current} is newer than this trace (${SCHEMA_VERSION}); upgrade trace`);
  }
  for (const m of MIGRATIONS) {
    if (m.version <= current) continue;
    db.transaction(() => {
      m.sqlite({ exec: (sql) => db.exec(sql), hasColumn: (t, c) => hasColumn(db, t, c) });
      db.pragma(`user_version = ${m.version}`);
    })();
  }
  return schemaVersion(db);
}

/** Typed query builder over the same connection (reads; hot-path writes use prepared statements). */
export function kyselyFor(db: Db): Kysely<DatabaseSchema> {
  return new Kysely<DatabaseSchema>({ dialect: new SqliteDialect({ database: db }) });
}
