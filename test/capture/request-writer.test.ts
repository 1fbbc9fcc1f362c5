import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { countRequests, getRequest, type RequestRowInput } from '../../src/store/requests-repo.js';
import { createBatchingDbWriter, createDbWriter } from '../../src/capture/request-writer.js';
import { createCaptureHandler } from '../../src/capture/capture-handler.js';
import { memoryLogger } from '../../src/shared/logger.js';

let dir: string;
let db: Db;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'trace-writer-'));
  db = openDb(join(dir, 'r.db'));
});
afterEach(() => {
  try {
    db.close();
  } catch {
    /* closed by the test */
  }
  rmSync(dir, { recursive: true, force: true });
});

const row = (id: string, extra: Partial<RequestRowInput> = {}): RequestRowInput => ({ id, method: 'POST', endpoint: '/v1/messages', headers: '{}', body: '{}', ...extra });

describe('request writers', () => {
  it('createDbWriter writes immediately', () => {
    createDbWriter(db).write(row('a', { state: 'pending' }));
    expect(getRequest(db, 'a')!.state).toBe('pending');
  });

  it('the batching writer queues rows and writes them all at the scheduled flush, in order (pending then complete)', () => {
    const jobs: (() => void)[] = [];
    const errors: unknown[] = [];
    const w = createBatchingDbWriter(db, { onError: (e) => errors.push(e), schedule: (fn) => jobs.push(fn) });
    w.write(row('a', { state: 'pending' }));
    w.write(row('b', { state: 'pending' }));
    w.write(row('a', { state: 'complete', status: 200 }));
    expect(jobs).toHaveLength(1); // one flush per turn
    expect(w.queued).toBe(3);
    expect(countRequests(db)).toBe(0);
    jobs.shift()!();
    expect(countRequests(db)).toBe(2);
    expect(getRequest(db, 'a')).toMatchObject({ state: 'complete', status: 200 });
    expect(errors).toEqual([]);
    w.write(row('c'));
    expect(jobs).toHaveLength(1);
    w.flush();
    expect(countRequests(db)).toBe(3);
  });

  it('a bad row only loses itself; its error goes to onError', () => {
    const jobs: (() => void)[] = [];
    const failed: string[] = [];
    const w = createBatchingDbWriter(db, { onError: (_e, r) => failed.push(r.id), schedule: (fn) => jobs.push(fn) });
    w.write(row('ok1'));
    w.write({ ...row('bad'), method: null } as unknown as RequestRowInput);
    w.write(row('ok2'));
    jobs.shift()!();
    expect(failed).toEqual(['bad']);
    expect(countRequests(db)).toBe(2);
  });

  it('errors of a batching writer are counted by the capture handler (closed db)', async () => {
    const logger = memoryLogger();
    const { Agent } = await import('undici');
    const dispatcher = new Agent();
    let handler: ReturnType<typeof createCaptureHandler> | undefined;
    const w = createBatchingDbWriter(db, { onError: (e, r) => handler!.reportWriteError(r.state ?? 'row', e) });
    handler = createCaptureHandler({ upstream: 'http://127.0.0.1:1', writer: w, dispatcher, logger });
    db.close();
    const res = await handler(new Request('http://p/v1/models'));
    expect(res.status).toBe(502); // nothing listens on port 1: forwarding still answered
    await res.text();
    await handler.idle();
    w.flush();
    expect(handler.stats.dbWriteErrors).toBe(2);
    expect(logger.lines.filter((l) => l.startsWith('error:')).length).toBe(2); // pending + error kinds, once each
    await dispatcher.close();
  });
});
