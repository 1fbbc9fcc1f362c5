import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openDb, migrate, schemaVersion, hasColumn, hasTable, kyselyFor } from '../../src/store/db.js';
import { CC_PROXY_REQUESTS_DDL, MIGRATIONS, SCHEMA_VERSION, TRACE_REQUEST_COLUMNS } from '../../src/store/schema.js';
import { StoreError } from '../../src/shared/errors.js';
import { countRequests, getRequest, iterateRequests, upsertRequest } from '../../src/store/requests-repo.js';

let dir: string;
const fresh = () => (dir = mkdtempSync(join(tmpdir(), 'trace-store-')));
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A database exactly as claude-code-proxy creates it, with one row in its JSON shapes. */
function makeCcProxyDb(path: string): void {
  const raw = new Database(path);
  raw.exec(CC_PROXY_REQUESTS_DDL);
  raw
    .prepare('INSERT INTO requests (id, timestamp, method, endpoint, headers, body, user_agent, content_type, response, model) VALUES (?,?,?,?,?,?,?,?,?,?)')
    .run(
      'cc-1',
      '2025-06-01T10:00:00Z',
      'POST',
      '/v1/messages',
      JSON.stringify({ 'User-Agent': ['claude-cli/1.0'] }),
      '{"model":"claude-sonnet","messages":[]}',
      'claude-cli/1.0',
      'application/json',
      JSON.stringify({ statusCode: 200, headers: {}, body: { usage: { input_tokens: 3 } }, responseTime: 120, isStreaming: false, completedAt: '2025-06-01T10:00:01Z' }),
      'claude-sonnet',
    );
  raw.close();
}

describe('openDb / migrations', () => {
  it('creates a new database at the current schema version, in WAL mode, with every trace column', () => {
    const db = openDb(join(fresh(), 'r.db'));
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    for (const [c] of TRACE_REQUEST_COLUMNS) expect(hasColumn(db, 'requests', c)).toBe(true);
    expect(hasTable(db, 'requests')).toBe(true);
    db.close();
  });

  it('is idempotent: reopening and re-migrating changes nothing', () => {
    const path = join(fresh(), 'r.db');
    openDb(path).close();
    const db = openDb(path);
    expect(migrate(db)).toBe(SCHEMA_VERSION);
    const cols = (db.prepare('PRAGMA table_info(requests)').all() as unknown[]).length;
    expect(migrate(db)).toBe(SCHEMA_VERSION);
    expect((db.prepare('PRAGMA table_info(requests)').all() as unknown[]).length).toBe(cols);
    db.close();
  });

  it('opens a claude-code-proxy database read-only without touching it', () => {
    const path = join(fresh(), 'cc.db');
    makeCcProxyDb(path);
    const db = openDb(path, { readonly: true });
    expect(schemaVersion(db)).toBe(0);
    expect(hasColumn(db, 'requests', 'session_id')).toBe(false);
    expect([...iterateRequests(db)].map((r) => r.id)).toEqual(['cc-1']);
    db.close();
  });

  it('upgrades a claude-code-proxy database in place when opened read-write, keeping its rows', () => {
    const path = join(fresh(), 'cc.db');
    makeCcProxyDb(path);
    const db = openDb(path);
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(hasColumn(db, 'requests', 'sse_events')).toBe(true);
    const row = getRequest(db, 'cc-1')!;
    expect(row.model).toBe('claude-sonnet');
    expect(row.session_id).toBeNull();
    expect(JSON.parse(row.response!).statusCode).toBe(200);
    db.close();
  });

  it('refuses a database from a newer trace, and a missing file when it must exist', () => {
    const path = join(fresh(), 'new.db');
    const raw = new Database(path);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => openDb(path)).toThrow(StoreError);
    expect(() => openDb(join(dir, 'missing.db'), { readonly: true })).toThrow(StoreError);
    expect(() => openDb(join(dir, 'missing.db'), { mustExist: true })).toThrow(/cannot open database/);
  });

  it('migration versions are strictly increasing from 1', () => {
    MIGRATIONS.forEach((m, i) => expect(m.version).toBe(i + 1));
  });

  it('kysely reads the same connection', async () => {
    const db = openDb(join(fresh(), 'r.db'));
    upsertRequest(db, { id: 'a', method: 'GET', endpoint: '/v1/models', headers: '{}', body: '', status: 200 });
    const k = kyselyFor(db);
    const rows = await k.selectFrom('requests').select(['id', 'status']).execute();
    expect(rows).toEqual([{ id: 'a', status: 200 }]);
    expect(countRequests(db)).toBe(1);
    db.close();
  });
});
