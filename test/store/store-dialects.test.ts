/**
 * The store suite, run unchanged on SQLite and on a real PostgreSQL server (test/helpers/postgres.ts; skipped with
 * a message only where the Postgres binaries are absent). No database mocks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { compactStoredBodies, openStore, type Store } from '../../src/store/store.js';
import { parseDbTarget } from '../../src/store/target.js';
import { SCHEMA_VERSION, TRACE_REQUEST_COLUMNS, ORIGIN_COLUMNS } from '../../src/store/schema.js';
import type { RequestRowInput } from '../../src/store/requests-repo.js';
import Database from 'better-sqlite3';
import { memoryLogger } from '../../src/shared/logger.js';
import { iterateRequests, openSource } from '../../src/store/sources/index.js';
import { openPostgresSource } from '../../src/store/sources/postgres-source.js';
import type { TraceRequest } from '../../src/shared/trace-record.js';
import { makeTraceDb } from './sources-fixtures.js';
import { pruneRequests, storeStats, vacuumStore } from '../../src/store/retention.js';
import { compressSegment, encodeBody, readBody } from '../../src/store/body-codec.js';
import { KyselySegmentStore } from '../../src/store/segment-store.js';
import { syntheticCliBody } from '../helpers/synthetic-body.js';
import { HAS_POSTGRES, NO_POSTGRES_MESSAGE, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { FIXTURES, HAS_SHARED, ROOT } from '../helpers/paths.js';

let server: TestPostgres | null = null;
let dir: string;
let dbCounter = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trace-store-dialects-'));
  if (HAS_POSTGRES) server = await startPostgres();
  else console.warn(NO_POSTGRES_MESSAGE);
}, 60_000);
afterAll(() => {
  server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The rows of the trace-db contract fixture (2 good rows, 1 malformed body), as stored. */
function fixtureRows(): RequestRowInput[] {
  const { path } = makeTraceDb(mkdtempSync(join(dir, 'fx-')));
  const raw = new Database(path, { readonly: true });
  const rows = raw.prepare('SELECT * FROM requests').all() as RequestRowInput[];
  raw.close();
  return rows;
}

async function readAll(path: string, pageRows?: number): Promise<{ rs: TraceRequest[]; skipped: number; warnings: number }> {
  const logger = memoryLogger();
  const src = pageRows ? openPostgresSource(path, { logger, pageRows }) : openSource(path, { logger });
  const rs: TraceRequest[] = [];
  try {
    for await (const r of iterateRequests(src)) rs.push(r);
  } finally {
    src.close();
  }
  return { rs, skipped: src.stats.skipped, warnings: logger.lines.filter((l) => l.startsWith('warn:')).length };
}

const pathOf = (store: Store) => (store.target.dialect === 'sqlite' ? store.target.path : store.target.url);

/** A fresh, empty store of the dialect. */
async function freshStore(dialect: 'sqlite' | 'postgres'): Promise<Store> {
  const n = ++dbCounter;
  const target = dialect === 'sqlite' ? join(dir, `s${n}.db`) : server!.createDatabase(`t${n}`);
  return openStore(parseDbTarget(target, dir));
}

const realBody = HAS_SHARED ? readFileSync(join(FIXTURES, 'claude-code', 'main-tool-result-2.1.197.json'), 'utf8') : JSON.stringify(syntheticCliBody());

const row = (id: string, extra: Partial<RequestRowInput> = {}): RequestRowInput => ({
  id,
  method: 'POST',
  endpoint: '/v1/messages',
  headers: '{"x-api-key":["sha256:0123456789abcdef"]}',
  body: realBody,
  ...extra,
});

async function columns(store: Store, table: string): Promise<string[]> {
  if (store.dialect === 'sqlite') {
    return (store.sqlite!.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
  }
  const r = await sql<{ column_name: string }>`SELECT column_name FROM information_schema.columns WHERE table_name = ${table}`.execute(store.db);
  return r.rows.map((c) => c.column_name);
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe.skipIf(dialect === 'postgres' && !HAS_POSTGRES)(`store on ${dialect}`, () => {
    it('migrates a fresh database to the current schema, idempotently (second open changes nothing)', async () => {
      const store = await freshStore(dialect);
      const cols = await columns(store, 'requests');
      for (const [c] of [...TRACE_REQUEST_COLUMNS, ...ORIGIN_COLUMNS]) expect(cols).toContain(c);
      for (const c of ['id', 'timestamp', 'method', 'endpoint', 'headers', 'body', 'response', 'model', 'created_at']) expect(cols).toContain(c);
      expect(await columns(store, 'body_segments')).toEqual(expect.arrayContaining(['id', 'raw_bytes', 'data']));
      expect(await columns(store, 'conversation_index')).toContain('conversation_id');
      const target = store.target;
      await store.close();
      const again = await openStore(target);
      expect(await again.countRequests()).toBe(0);
      if (dialect === 'sqlite') expect(again.sqlite!.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      else {
        const v = await sql<{ value: string }>`SELECT value FROM trace_meta WHERE key = 'schema_version'`.execute(again.db);
        expect(v.rows[0]!.value).toBe(String(SCHEMA_VERSION));
      }
      await again.close();
    });

    it('insertRequests is idempotent by id, fills origin columns the rows leave empty, and keeps bodies byte-exact', async () => {
      const store = await freshStore(dialect);
      const rows = Array.from({ length: 450 }, (_, i) => row(`imp-${i}`, { started_at_ms: 1_700_000_000_000 + i, seq: i, input_tokens: i }));
      rows[3] = { ...rows[3]!, origin_host: 'their-host' };
      const first = await store.insertRequests(rows, { origin: 'import:test', host: 'h1', user: 'u1' });
      expect(first).toEqual({ inserted: 450, existing: 0 });
      const second = await store.insertRequests([...rows.slice(0, 10), row('imp-new')], { origin: 'import:test' });
      expect(second).toEqual({ inserted: 1, existing: 10 });
      expect(await store.countRequests()).toBe(451);
      const got = await store.db.selectFrom('requests').selectAll().where('id', 'in', ['imp-3', 'imp-7', 'imp-new']).orderBy('id').execute();
      expect(got.map((r) => [r.id, r.origin, r.origin_host, r.origin_user])).toEqual([
        ['imp-3', 'import:test', 'their-host', 'u1'],
        ['imp-7', 'import:test', 'h1', 'u1'],
        ['imp-new', 'import:test', null, null],
      ]);
      expect(got[0]!.body).toBe(realBody);
      expect(got[1]!.started_at_ms).toBe(1_700_000_000_007);
      expect(got[1]!.input_tokens).toBe(7);
      await store.close();
    });

    it('capture rows: the pending row is completed without resending the body; null never erases', async () => {
      const store = await freshStore(dialect);
      await store.writeCaptureRows([
        row('c1', { state: 'pending', model: 'm', session_id: 's', started_at_ms: 1000.5, seq: 1, origin: 'capture', origin_host: 'dev-1', origin_user: 'ann' }),
        row('c2', { state: 'pending', seq: 2 }),
      ]);
      await store.writeCaptureRows([
        row('c1', { body: 'not written', headers: '{}', state: 'complete', status: 200, ttft_ms: 12.25, output_tokens: 9, model: null }),
        row('c3', { state: 'error', status: 502, error: 'boom' }), // completion without a pending row: inserted
      ]);
      const rs = await store.db.selectFrom('requests').selectAll().orderBy('id').execute();
      expect(rs.map((r) => [r.id, r.state, r.status])).toEqual([
        ['c1', 'complete', 200],
        ['c2', 'pending', null],
        ['c3', 'error', 502],
      ]);
      expect(rs[0]).toMatchObject({ body: realBody, model: 'm', session_id: 's', started_at_ms: 1000.5, ttft_ms: 12.25, output_tokens: 9, origin_host: 'dev-1', origin_user: 'ann', is_streaming: null });
      expect(rs[0]!.headers).toBe('{"x-api-key":["sha256:0123456789abcdef"]}');
      await store.close();
    });

    it('readers: openSource on the store yields the stored requests in capture order, malformed rows skipped and counted', async () => {
      const store = await freshStore(dialect);
      await store.insertRequests(fixtureRows().reverse(), { origin: 'import:test' });
      await store.close();
      const { rs, skipped, warnings } = await readAll(pathOf(store));
      expect(rs.map((r) => r.id)).toEqual(['a1', 'a2']);
      expect([skipped, warnings]).toEqual([1, 1]);
      // Values written by the fixture (sources-fixtures.ts): a1 streamed with usage columns, a2 from its response log.
      expect(rs[0]).toMatchObject({ status: 200, ttftMs: 400, durationMs: 1500, stopReason: 'tool_use', isStreaming: true });
      expect(rs[0]!.usage).toMatchObject({ input_tokens: 3, output_tokens: 50, cache_creation_input_tokens: 20000 });
      expect(rs[1]!.usage).toMatchObject({ input_tokens: 5, cache_read_input_tokens: 20000, output_tokens: 30 });
      expect(rs[1]!.response!.content).toEqual([{ type: 'text', text: 'Hello, probe!' }]);
      expect(rs[0]!.body!.messages.length).toBeGreaterThan(0);
    });

    it('readers: ordering by (started_at_ms, seq, id) holds across pages; every row exactly once', async () => {
      const store = await freshStore(dialect);
      const N = 157;
      // Ties on started_at_ms broken by seq, ties on both broken by id; some rows lack started_at_ms (sort first).
      const rows = Array.from({ length: N }, (_, i) =>
        row(`p-${String(i).padStart(3, '0')}`, { body: '{"model":"m","messages":[]}', started_at_ms: i < 5 ? null : 1000 + Math.floor(i / 4), seq: i % 3, status: 200 }),
      );
      const expected = [...rows]
        .sort((a, b) => (a.started_at_ms ?? 0) - (b.started_at_ms ?? 0) || (a.seq ?? 0) - (b.seq ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        .map((r) => r.id);
      for (let i = rows.length - 1; i > 0; i--) [rows[i], rows[(i * 7919) % (i + 1)]] = [rows[(i * 7919) % (i + 1)]!, rows[i]!];
      await store.insertRequests(rows);
      await store.close();
      const got = (await readAll(pathOf(store), dialect === 'postgres' ? 10 : undefined)).rs.map((r) => r.id);
      expect(got).toHaveLength(N);
      if (dialect === 'postgres') expect(got).toEqual(expected);
      else expect(new Set(got)).toEqual(new Set(expected)); // SQLite breaks ties by rowid (insertion), not id
    });

    it('stats, prune and vacuum: counts, bytes and what a cut-off removes (index rows, orphan segments)', async () => {
      const store = await freshStore(dialect);
      const day = 86_400_000;
      const t0 = Date.parse('2026-01-01T00:00:00Z');
      const bodies = ['{"model":"m","messages":[{"role":"user","content":"a"}]}', '{"model":"m","messages":[{"role":"user","content":"héllo ✓"}]}'];
      const rows = Array.from({ length: 10 }, (_, i) =>
        row(`r${i}`, { body: bodies[i % 2]!, started_at_ms: t0 + i * day, session_id: `s${i % 3}`, state: i === 9 ? 'pending' : 'complete', origin_host: i < 4 ? 'a' : 'b', origin_user: 'u' }),
      );
      // One compact row (the real CLI body through the codec): its segments are referenced and survive the prune.
      const enc = encodeBody(realBody);
      rows.push(row('compact', { body: '', body_skeleton: enc.skeleton, request_bytes: enc.size, started_at_ms: t0 + 20 * day, session_id: 's0', state: 'complete' }));
      await store.insertRequests(rows);
      await store.db.insertInto('body_segments').values(enc.segments.map((g) => ({ id: g.id, raw_bytes: g.bytes.length, data: compressSegment(g.bytes) }))).execute();
      await store.db.insertInto('body_segments').values({ id: 'f'.repeat(32), raw_bytes: 3, data: compressSegment(Buffer.from('xyz')) }).execute();
      await store.db.insertInto('conversation_index').values(['r0', 'r5'].map((id) => ({ request_id: id, conversation_id: 'c', agent_id: 'a', is_subagent: 0, turn_index: 0, kind: 'text', linked_by: 'new', parent_agent_id: null, parent_request_id: null, spawned_by_request_id: null, duplicate_of: null, duplicate_kind: null, side: null, think_time_ms: null, api_time_ms: null }))).execute();

      const st = await storeStats(store);
      expect(st).toMatchObject({ dialect, rows: 11, sessions: 3, capturers: 2, states: { complete: 10, pending: 1 }, firstStartedAtMs: t0, lastStartedAtMs: t0 + 20 * day });
      const rawBodies = rows.slice(0, 10).reduce((a, r) => a + Buffer.byteLength(r.body, 'utf8'), 0);
      expect(st.bodies.rawBytes).toBe(rawBodies + Buffer.byteLength(realBody));
      expect(st.bodies.compactRows).toBe(1);
      expect(st.bytesByTable.requests).toBeGreaterThan(0);
      expect(st.bytesByTable.body_segments).toBeGreaterThan(0);
      expect(st.totalBytes).toBeGreaterThanOrEqual(st.bytesByTable.requests!);

      // Cut-off at day 3: r0, r1, r2 go; the dry run counts the same without deleting.
      const cut = t0 + 3 * day;
      expect(await pruneRequests(store, { beforeMs: cut, dryRun: true })).toMatchObject({ requests: 3, dryRun: true });
      expect(await store.countRequests()).toBe(11);
      expect(await pruneRequests(store, { beforeMs: cut })).toEqual({ before: '2026-01-04T00:00:00.000Z', requests: 3, conversationIndexRows: 1, bodySegments: 1, dryRun: false });
      const left = await store.db.selectFrom('requests').select('id').orderBy('id').execute();
      expect(left.map((r) => r.id)).toEqual(['compact', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8', 'r9']);
      expect((await store.db.selectFrom('body_segments').select('id').execute()).length).toBe(enc.segments.length);
      expect((await store.db.selectFrom('conversation_index').select('request_id').execute()).map((r) => r.request_id)).toEqual(['r5']);

      const v = await vacuumStore(store);
      expect(v.bytesAfter).toBeGreaterThan(0);
      if (dialect === 'sqlite') expect(v.bytesAfter).toBeLessThanOrEqual(v.bytesBefore);
      expect(await store.countRequests()).toBe(8);
      await store.close();
    });

    it('compactStoredBodies (capture --compact-bodies) turns stored raw bodies into skeletons that read back byte-exact', async () => {
      const raw = new Database(join(ROOT, 'examples', 'requests.db'), { readonly: true, fileMustExist: true });
      const rows = (raw.prepare('SELECT * FROM requests').all() as RequestRowInput[]).slice(0, 12);
      raw.close();
      const store = await freshStore(dialect);
      await store.insertRequests(rows);
      const before = await readAll(pathOf(store));
      const withBody = rows.filter((r) => r.body !== '');
      expect(await compactStoredBodies(store, rows.map((r) => r.id))).toBe(withBody.length);
      expect(await compactStoredBodies(store, rows.map((r) => r.id))).toBe(0); // already compact
      const segments = new KyselySegmentStore(store.db);
      const byId = new Map(rows.map((r) => [r.id, r.body]));
      for (const r of await store.db.selectFrom('requests').select(['id', 'body', 'body_skeleton']).execute()) {
        const original = byId.get(r.id)!;
        if (original === '') continue;
        expect(r.body).toBe('');
        expect((await readBody(segments, r.body_skeleton!, { verify: true })).equals(Buffer.from(original, 'utf8'))).toBe(true);
      }
      expect((await readAll(pathOf(store))).rs).toEqual(before.rs);
      await store.close();
    });

    it('compact bodies: every body of the example round-trips byte-exact, readers see the same requests, stats show the compaction', async () => {
      const raw = new Database(join(ROOT, 'examples', 'requests.db'), { readonly: true, fileMustExist: true });
      const rows = raw.prepare('SELECT * FROM requests').all() as RequestRowInput[];
      raw.close();
      const plain = await freshStore(dialect);
      await plain.insertRequests(rows);
      await plain.close();
      const compact = await freshStore(dialect);
      expect(await compact.insertRequests(rows, undefined, { compactBodies: true })).toEqual({ inserted: rows.length, existing: 0 });
      expect(await compact.insertRequests(rows.slice(0, 5), undefined, { compactBodies: true })).toEqual({ inserted: 0, existing: 5 });
      const stored = await compact.db.selectFrom('requests').select(['id', 'body', 'body_skeleton']).execute();
      const byId = new Map(rows.map((r) => [r.id, r.body]));
      const segments = new KyselySegmentStore(compact.db);
      for (const r of stored) {
        expect(r.body).toBe('');
        const original = byId.get(r.id)!;
        if (original === '') expect(r.body_skeleton).toBeNull(); // nothing to compact (3 non-message requests)
        else expect((await readBody(segments, r.body_skeleton!, { verify: true })).equals(Buffer.from(original, 'utf8'))).toBe(true);
      }
      const st = await storeStats(compact);
      expect(st.bodies.compactRows).toBe(rows.filter((r) => r.body !== '').length);
      expect(st.bodies.rawBytes).toBe(rows.reduce((a, r) => a + Buffer.byteLength(r.body, 'utf8'), 0));
      expect(st.bodies.compactionRatio!).toBeGreaterThan(10);
      await compact.close();
      const a = await readAll(pathOf(plain));
      const b = await readAll(pathOf(compact));
      expect(b.rs.length).toBe(rows.length);
      expect(b.rs).toEqual(a.rs);
    });
  });
}
