/**
 * Prune's segment sweep against a concurrent compacting writer, on a real Postgres and on SQLite (prune as another
 * process, as a cron job beside a running capture would be): a writer that found a body's
 * segments already stored (left by a row the prune is deleting) holds the segment lock until its skeleton is
 * stored, so the sweep — which needs the lock exclusively — cannot delete them under it. Without the lock the new
 * row's body would reference swept segments and be unreadable.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sql } from 'kysely';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TRACE_BIN } from '../helpers/paths.js';
import { openStore, type Store } from '../../src/store/store.js';
import { parseDbTarget } from '../../src/store/target.js';
import { pruneRequests } from '../../src/store/retention.js';
import { KyselySegmentStore } from '../../src/store/segment-store.js';
import { readBody, writeBody } from '../../src/store/body-codec.js';
import { HAS_POSTGRES, NO_POSTGRES_MESSAGE, startPostgres, type TestPostgres } from '../helpers/postgres.js';

let server: TestPostgres | null = null;
beforeAll(async () => {
  if (HAS_POSTGRES) server = await startPostgres();
  else console.warn(NO_POSTGRES_MESSAGE);
}, 60_000);
afterAll(() => server?.stop());

const BODY = JSON.stringify({
  model: 'claude-x',
  max_tokens: 64,
  tools: Array.from({ length: 4 }, (_, i) => ({ name: `tool${i}`, description: `Tool number ${i}. `.repeat(20), input_schema: { type: 'object', properties: {} } })),
  system: [{ type: 'text', text: 'You are a coding agent. '.repeat(30) }],
  messages: [{ role: 'user', content: [{ type: 'text', text: 'Please read the file and report what it says. '.repeat(10) }] }],
});

const DAY = 86_400_000;
const NOW = Date.parse('2026-06-01T00:00:00Z');

/**
 * An old compact row (its segments are the ones the writer will find present), then a writer holding the segment
 * lock from finding every segment stored until `release()`, after which it stores a new row referencing them.
 */
async function gatedWriter(store: Store): Promise<{ release: () => void; done: Promise<void> }> {
  await store.insertRequests([{ id: 'old', method: 'POST', endpoint: '/v1/messages', headers: '{}', body: BODY, started_at_ms: NOW - 30 * DAY, state: 'complete' }], undefined, { compactBodies: true });
  expect((await store.db.selectFrom('body_segments').select('id').execute()).length).toBeGreaterThan(0);
  let found!: () => void;
  const foundPresent = new Promise<void>((r) => (found = r));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const done = store.withSegmentLock('write', async (db) => {
    const w = await writeBody(new KyselySegmentStore(db), BODY);
    expect(w.newSegments).toBe(0); // every segment was already stored
    found();
    await gate;
    await db.insertInto('requests').values({ id: 'new', method: 'POST', endpoint: '/v1/messages', headers: '{}', body: '', body_skeleton: w.skeleton, started_at_ms: NOW, state: 'complete' } as never).execute();
  });
  await foundPresent;
  return { release, done };
}

/** The new row's body, reassembled and verified, is the body sent. */
async function expectNewRowReadsBack(store: Store): Promise<void> {
  const row = await store.db.selectFrom('requests').select('body_skeleton').where('id', '=', 'new').executeTakeFirstOrThrow();
  expect((await readBody(new KyselySegmentStore(store.db), row.body_skeleton!, { verify: true })).toString('utf8')).toBe(BODY);
}

describe.skipIf(!HAS_POSTGRES)('body segments: prune vs a concurrent compacting writer (Postgres)', () => {
  it('the sweep waits for the writer; the new row reads back byte-exact', async () => {
    const store: Store = await openStore(parseDbTarget(server!.createDatabase('seglock'), '/'));
    try {
      const writer = await gatedWriter(store);
      let pruned = false;
      const prune = pruneRequests(store, { beforeMs: NOW - DAY }).then((r) => ((pruned = true), r));
      // The sweep is blocked on the segment lock (one advisory lock waiting, not granted) — not merely slow.
      await vi.waitFor(async () => {
        const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`.execute(store.db);
        expect(r.rows[0]!.n).toBe(1);
      }, { timeout: 20_000, interval: 20 });
      const prunedEarly = pruned;
      writer.release();
      expect(prunedEarly).toBe(false); // the old row is gone, but the sweep waited for the writer's lock
      await writer.done;
      const res = await prune;
      expect(res.requests).toBe(1);
      expect(res.bodySegments).toBe(0); // the new row references them all
      await expectNewRowReadsBack(store);
    } finally {
      await store.close();
    }
  }, 60_000);
});

describe('body segments: prune (another process) vs a concurrent compacting writer (SQLite)', () => {
  it('the prune waits for the writer\'s write lock; the new row reads back byte-exact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trace-seglock-'));
    const path = join(dir, 'requests.db');
    const store: Store = await openStore(parseDbTarget(path, dir));
    try {
      const writer = await gatedWriter(store);
      let exitedAt = 0;
      const prune = spawn(process.execPath, [TRACE_BIN, 'prune', path, '--before', new Date(NOW - DAY).toISOString(), '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      prune.stdout!.on('data', (d) => (out += d));
      prune.stderr!.on('data', (d) => (err += d));
      const exited = new Promise<number | null>((r) => prune.once('exit', (c) => ((exitedAt = Date.now()), r(c))));
      await new Promise((r) => setTimeout(r, 1000)); // the prune process is up and waiting for the write lock
      const releasedAt = Date.now();
      writer.release();
      await writer.done;
      expect(await exited, err).toBe(0);
      expect(exitedAt).toBeGreaterThanOrEqual(releasedAt);
      expect(JSON.parse(out)).toMatchObject({ requests: 1, bodySegments: 0 });
      await expectNewRowReadsBack(store);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
