import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { completeRequest, countRequests, getRequest, iterateRequests, upsertRequest, upsertRequests, writeCaptureRow, writeCaptureRows, type RequestRowInput } from '../../src/store/requests-repo.js';

let dir: string;
let db: Db;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'trace-repo-'));
  db = openDb(join(dir, 'r.db'));
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const base = (id: string, extra: Partial<RequestRowInput> = {}): RequestRowInput => ({
  id,
  method: 'POST',
  endpoint: '/v1/messages',
  headers: '{"x-api-key":["sha256:0123456789abcdef"]}',
  body: '{"model":"m"}',
  ...extra,
});

describe('requests repository', () => {
  it('a pending row is completed by a second upsert; null columns never erase earlier values', () => {
    upsertRequest(db, base('r1', { state: 'pending', model: 'm', session_id: 's', started_at_ms: 1000, seq: 1 }));
    const pending = getRequest(db, 'r1')!;
    expect(pending.state).toBe('pending');
    expect(pending.status).toBeNull();
    expect(pending.timestamp).not.toBeNull();

    upsertRequest(db, base('r1', { state: 'complete', status: 200, ttft_ms: 12.5, duration_ms: 40, input_tokens: 5, output_tokens: 7, model: null }));
    const done = getRequest(db, 'r1')!;
    expect(done).toMatchObject({ state: 'complete', status: 200, ttft_ms: 12.5, input_tokens: 5, output_tokens: 7, model: 'm', session_id: 's', started_at_ms: 1000, seq: 1 });
    expect(countRequests(db)).toBe(1);
  });

  it('completeRequest updates the pending row without touching body/headers; null columns keep earlier values', () => {
    upsertRequest(db, base('c1', { state: 'pending', model: 'm', session_id: 's', started_at_ms: 1000, seq: 1 }));
    completeRequest(db, base('c1', { headers: '{"changed":["x"]}', body: 'not written', state: 'complete', status: 200, response: '{"statusCode":200}', model: null }));
    const r = getRequest(db, 'c1')!;
    expect(r).toMatchObject({ state: 'complete', status: 200, response: '{"statusCode":200}', model: 'm', session_id: 's', seq: 1 });
    expect(r.body).toBe('{"model":"m"}');
    expect(r.headers).toBe('{"x-api-key":["sha256:0123456789abcdef"]}');
    expect(countRequests(db)).toBe(1);
  });

  it('completeRequest falls back to a full insert when the pending row is missing', () => {
    completeRequest(db, base('c2', { state: 'error', status: 502, error: 'boom' }));
    expect(getRequest(db, 'c2')).toMatchObject({ state: 'error', status: 502, error: 'boom', body: '{"model":"m"}', method: 'POST' });
    expect(getRequest(db, 'c2')!.timestamp).not.toBeNull();
  });

  it('writeCaptureRow(s): pending rows upsert, other states complete; the batch keeps order', () => {
    writeCaptureRows(db, [base('w1', { state: 'pending', seq: 1 }), base('w1', { state: 'complete', status: 200 }), base('w2', { state: 'aborted', seq: 2 })]);
    expect(getRequest(db, 'w1')).toMatchObject({ state: 'complete', status: 200, seq: 1 });
    expect(getRequest(db, 'w2')).toMatchObject({ state: 'aborted', seq: 2, body: '{"model":"m"}' });
    writeCaptureRow(db, base('w3', { state: 'pending', body: 'b3' }));
    writeCaptureRow(db, base('w3', { state: 'complete', body: 'ignored' }));
    expect(getRequest(db, 'w3')).toMatchObject({ state: 'complete', body: 'b3' });
    expect(countRequests(db)).toBe(3);
  });

  it('stores the body text exactly (whitespace, unicode, huge)', () => {
    const body = '{ "model" : "m",\n\t"x": "é✓𝄞", "pad": "' + 'p'.repeat(300_000) + '" }';
    upsertRequest(db, base('big', { body }));
    expect(getRequest(db, 'big')!.body).toBe(body);
  });

  it('upsertRequests writes all rows in one transaction, or none', () => {
    upsertRequests(db, [base('a'), base('b'), base('c')]);
    expect(countRequests(db)).toBe(3);
    const bad = { ...base('d'), method: null } as unknown as RequestRowInput; // NOT NULL violation
    expect(() => upsertRequests(db, [base('e'), bad])).toThrow();
    expect(getRequest(db, 'e')).toBeUndefined();
    expect(countRequests(db)).toBe(3);
  });

  it('iterates in capture order: started_at_ms, then seq', () => {
    upsertRequests(db, [
      base('late', { started_at_ms: 3000, seq: 1 }),
      base('tie-2', { started_at_ms: 2000, seq: 3 }),
      base('tie-1', { started_at_ms: 2000, seq: 2 }),
      base('early', { started_at_ms: 1000, seq: 9 }),
    ]);
    expect([...iterateRequests(db)].map((r) => r.id)).toEqual(['early', 'tie-1', 'tie-2', 'late']);
  });

  it('writes to a closed database throw (capture catches and counts these)', () => {
    db.close();
    expect(() => upsertRequest(db, base('x'))).toThrow(/not open/);
    db = openDb(join(dir, 'r.db'));
  });
});
