/**
 * Issue 15, item 5: a damaged database says what is wrong with it; `capture --db` refuses a SQLite file of
 * something else; read-only commands leave no `-wal`/`-shm` beside a user's file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openDb, isWalFile } from '../../src/store/db.js';
import { StoreError } from '../../src/shared/errors.js';
import { CC_PROXY_REQUESTS_DDL } from '../../src/store/schema.js';
import { ROOT, TRACE_BIN } from '../helpers/paths.js';
import { runCli } from '../analyze/run-cli.js';

const EXAMPLE = join(ROOT, 'examples', 'requests.db');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'trace-damaged-'));
  chmodSync(dir, 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
/** A copy of the WAL-mode example without side files, in its own directory. */
function exampleCopy(name: string): string {
  const d = join(dir, name);
  mkdirSync(d);
  const p = join(d, 'requests.db');
  copyFileSync(EXAMPLE, p);
  return p;
}

const READ_COMMANDS: string[][] = [
  ['list', '--no-store-index'],
  ['analyze', '--tokenizer', 'chars4', '--no-store-index'],
  ['simulate'],
  ['report', '--out', '/dev/null'],
  ['stats'],
];

describe('a damaged database says what is wrong', () => {
  it('a truncated requests.db: every read command exits 2 with one line naming the damage', async () => {
    const p = join(dir, 'truncated.db');
    writeFileSync(p, readFileSync(EXAMPLE).subarray(0, 1_000_000));
    for (const cmd of READ_COMMANDS) {
      const r = await runCli([cmd[0]!, p, ...cmd.slice(1)]);
      expect(r.code, `${cmd[0]}: ${r.stderr}`).toBe(cmd[0] === 'stats' ? 1 : 2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/is damaged \(database disk image is malformed\)/);
      expect(r.stderr).not.toMatch(/cannot recognise/);
    }
    expect(readdirSync(dir).filter((f) => f.startsWith('truncated.db-'))).toEqual([]);
  });

  it('a file with SQLite magic and garbage after the header says it is not a readable database', async () => {
    const p = join(dir, 'garbage.db');
    const buf = Buffer.alloc(8192, 0x41);
    Buffer.from('SQLite format 3\u0000', 'latin1').copy(buf);
    writeFileSync(p, buf);
    const r = await runCli(['list', p]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/garbage\.db (is damaged|is not a SQLite database)/);
  });

  const uid = userInfo().uid;
  // Root ignores directory permissions: the check runs the CLI as the unprivileged `postgres` user then.
  const asUser = uid === 0 ? (() => {
    const r = spawnSync('id', ['-u', 'postgres']);
    return r.status === 0 ? { uid: Number(r.stdout.toString()), gid: Number(spawnSync('id', ['-g', 'postgres']).stdout.toString()) } : null;
  })() : {};
  it.skipIf(asUser === null)('a WAL-mode DB in a directory the user cannot write: names the WAL/-shm problem and the fix', () => {
    const p = exampleCopy('readonly-dir');
    chmodSync(p, 0o644);
    chmodSync(join(dir, 'readonly-dir'), 0o555);
    try {
      expect(isWalFile(p)).toBe(true);
      const r = spawnSync(process.execPath, [TRACE_BIN, 'list', p], { ...asUser, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/is in WAL mode and SQLite cannot create requests\.db-shm beside it/);
      expect(r.stderr).toMatch(/PRAGMA journal_mode=DELETE/);
    } finally {
      chmodSync(join(dir, 'readonly-dir'), 0o755);
    }
  });
});

describe('capture --db refuses a SQLite file of something else', () => {
  it('an unrelated SQLite database: refused, the file untouched (no tables added, not switched to WAL)', async () => {
    const p = join(dir, 'notes.db');
    const other = new Database(p);
    other.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes (text) VALUES ('keep me')");
    other.close();
    const before = sha(p);
    const r = await runCli(['capture', '--db', p, '--port', '0', '--upstream', 'http://127.0.0.1:9']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/notes\.db is a SQLite database of something else \(tables: notes\)/);
    expect(sha(p)).toBe(before);
    expect(isWalFile(p)).toBe(false);
    expect(existsSync(`${p}-wal`)).toBe(false);
  });

  it('an empty file, a SQLite file without tables, ours and claude-code-proxy’s are accepted', () => {
    const empty = join(dir, 'empty.db');
    writeFileSync(empty, '');
    const noTables = join(dir, 'no-tables.db');
    new Database(noTables).close();
    const ours = exampleCopy('ours');
    const cc = join(dir, 'cc.db');
    const c = new Database(cc);
    c.exec(CC_PROXY_REQUESTS_DDL);
    c.close();
    for (const p of [empty, noTables, ours, cc]) {
      const db = openDb(p);
      expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'requests'").get()).toEqual({ n: 1 });
      db.close();
    }
    const notSqlite = join(dir, 'text.db');
    writeFileSync(notSqlite, 'hello, this is a text file and not a database at all'.repeat(100));
    expect(() => openDb(notSqlite)).toThrow(StoreError);
    expect(() => openDb(notSqlite)).toThrow(/is not a SQLite database/);
  });
});

describe('read-only commands leave no -wal/-shm beside the input', () => {
  it('list, analyze, simulate, report, stats, show on a WAL-mode requests.db: no side files, same bytes', async () => {
    const p = exampleCopy('side-files');
    const before = sha(p);
    const firstId = (new Database(p, { readonly: true }).prepare('SELECT id FROM requests LIMIT 1').pluck().get() as string);
    for (const f of ['-wal', '-shm']) rmSync(p + f, { force: true });
    // `list` stores the conversation index by default: the example's stored index is current, so nothing is written.
    for (const cmd of [['list'], ...READ_COMMANDS, ['show', '@', firstId]]) {
      const args = cmd[0] === 'show' ? ['show', p, firstId] : [cmd[0]!, p, ...cmd.slice(1)];
      const r = await runCli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(readdirSync(join(dir, 'side-files')), args[0]).toEqual(['requests.db']);
    }
    expect(sha(p)).toBe(before);
  });
});
