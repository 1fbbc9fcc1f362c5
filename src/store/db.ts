import Database from 'better-sqlite3';
import { accessSync, closeSync, constants as fsConstants, existsSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
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
 * A read-write open refuses a SQLite file that holds something else (see assertOursOrEmpty); a read-only open
 * leaves no `-wal`/`-shm` files behind that were not there before (see removeReadonlySideFiles).
 * Throws StoreError (code E_STORE) on failure, saying what is wrong with the file (describeSqliteFailure).
 */
export function openDb(path: string, options: OpenDbOptions = {}): Db {
  let db: Db;
  const sideFilesBefore = options.readonly ? sideFiles(path) : null;
  try {
    db = new Database(path, {
      readonly: options.readonly ?? false,
      fileMustExist: options.mustExist ?? options.readonly ?? false,
    });
  } catch (e) {
    throw new StoreError(describeSqliteFailure(path, e, options.readonly ?? false), { cause: e });
  }
  try {
    db.pragma('busy_timeout = 5000');
    if (!options.readonly) {
      assertOursOrEmpty(db, path);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      migrate(db);
    }
  } catch (e) {
    db.close();
    if (e instanceof StoreError) throw e;
    throw new StoreError(describeSqliteFailure(path, e, options.readonly ?? false), { cause: e });
  }
  if (sideFilesBefore && !sideFilesBefore.wal && !sideFilesBefore.shm) {
    const close = db.close.bind(db);
    db.close = () => {
      close();
      removeReadonlySideFiles(path);
      return db;
    };
  }
  return db;
}

function sideFiles(path: string): { wal: boolean; shm: boolean } {
  return { wal: existsSync(`${path}-wal`), shm: existsSync(`${path}-shm`) };
}

/**
 * Reading a WAL-mode database makes SQLite create `-wal`/`-shm` beside it, and a read-only connection cannot
 * remove them. When they were not there before we opened it, a read-write connection is opened and closed: as
 * the last connection it checkpoints (an empty WAL: the database file is not written) and deletes both — and
 * SQLite does so only when no other process holds the database, so a capture that opened it meanwhile keeps them.
 */
function removeReadonlySideFiles(path: string): void {
  const now = sideFiles(path);
  if (!now.wal && !now.shm) return;
  let rw: Db | undefined;
  try {
    rw = new Database(path, { fileMustExist: true });
    rw.prepare('SELECT count(*) FROM sqlite_master').get(); // joins the WAL, so that closing ends it
  } catch {
    // Damaged or not writable by us: fall through.
  } finally {
    rw?.close();
  }
  // Still there after a failed open (a damaged file): an empty WAL holds nothing, so both files can go.
  const left = sideFiles(path);
  if (left.wal && statSync(`${path}-wal`).size === 0) {
    for (const f of [`${path}-wal`, `${path}-shm`]) rmSync(f, { force: true });
  }
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** True when the file's header says WAL mode (bytes 18-19 are 2). */
export function isWalFile(path: string): boolean {
  try {
    const fd = openSync(path, 'r');
    try {
      const b = Buffer.alloc(20);
      return readSync(fd, b, 0, 20, 0) === 20 && b[18] === 2 && b[19] === 2;
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

/** What is wrong with a SQLite file, in one line, from the error opening or reading it. */
export function describeSqliteFailure(path: string, e: unknown, readonly: boolean): string {
  const code = String((e as { code?: unknown }).code ?? '');
  const msg = errorMessage(e);
  if (code === 'SQLITE_CORRUPT' || /malformed/i.test(msg)) {
    return `${path} is damaged (${msg}): the file is truncated or partly overwritten; \`sqlite3 ${basename(path)} .recover\` may salvage its rows`;
  }
  if (code === 'SQLITE_NOTADB') return `${path} is not a SQLite database, or its header is damaged (${msg})`;
  if (code.startsWith('SQLITE_IOERR')) return `${path}: I/O error reading the file (${msg}): it may be truncated or on a failing disk`;
  if ((code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_READONLY')) && existsSync(path) && isWalFile(path) && !writable(dirname(path))) {
    return `${path} is in WAL mode and SQLite cannot create ${basename(path)}-shm beside it (is ${dirname(path)} writable by you?): copy the file to a writable directory, or have its owner run \`sqlite3 ${basename(path)} 'PRAGMA journal_mode=DELETE'\``;
  }
  if (code === 'SQLITE_READONLY' || code.startsWith('SQLITE_READONLY_')) {
    return `${path} is read-only for you (${msg})${readonly ? '' : ': trace needs to write to it'}`;
  }
  return `cannot open database ${path}: ${msg}`;
}

/** claude-code-proxy's requests columns: a `requests` table with these is ours (or theirs, upgraded in place). */
const CC_PROXY_CORE = ['id', 'method', 'endpoint', 'headers', 'body'];

/**
 * Refuses to add trace's tables to a SQLite file that holds something else: it must be empty (no tables), or
 * have a `requests` table with claude-code-proxy's columns (ours, or claude-code-proxy's, upgraded in place).
 */
export function assertOursOrEmpty(db: Db, path: string): void {
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").pluck().all() as string[]);
  if (tables.length === 0) return;
  if (tables.includes('requests') && CC_PROXY_CORE.every((c) => hasColumn(db, 'requests', c))) return;
  const shown = tables.slice(0, 5).join(', ') + (tables.length > 5 ? ', …' : '');
  throw new StoreError(`${path} is a SQLite database of something else (tables: ${shown}): not adding trace's tables to it; choose a new file or an existing requests.db`);
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
