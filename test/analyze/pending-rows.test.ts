/**
 * Issue 15, defect 4: rows a proxy crash left `pending` are incomplete requests — counted as errors (not as
 * successful "text" requests) and kept out of the timing percentiles.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { makeTraceDb, tmp } from '../store/sources-fixtures.js';
import { runCli } from './run-cli.js';

const dir = tmp('pending');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pending rows', () => {
  it('analyze counts them as errors and leaves their partial ttft out of the timing', async () => {
    const f = makeTraceDb(dir); // a1 (ttft 400, 1500 ms), a2 (900 ms), a3 malformed
    const db = new Database(f.path);
    const body = db.prepare("SELECT body FROM requests WHERE id = 'a1'").get() as { body: string };
    const t0 = Date.parse('2026-11-24T10:10:00Z');
    // Two crash leftovers: one that had seen its first byte (ttft recorded), one that had not.
    db.prepare("INSERT INTO requests (id, method, endpoint, headers, body, started_at_ms, ttft_ms, state) VALUES ('p1', 'POST', '/v1/messages', '{}', ?, ?, 99999, 'pending')").run(body.body, t0);
    db.prepare("INSERT INTO requests (id, method, endpoint, headers, body, started_at_ms, state) VALUES ('p2', 'POST', '/v1/messages', '{}', ?, ?, 'pending')").run(body.body, t0 + 1000);
    db.close();

    const r = await runCli(['analyze', f.path, '--json', '--tokenizer', 'chars4', '--no-store-index']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as {
      totals: { requests: number; errors: number; byKind: Record<string, number> };
      timing: { ttftMs: { n: number; max: number | null }; apiTimeMs: { n: number; max: number | null } };
    };
    expect(j.totals.requests).toBe(4);
    expect(j.totals.errors).toBe(2);
    expect(j.totals.byKind.error).toBe(2);
    // Only a1 has a ttft (400 ms); a1 and a2 have durations (1500, 900 ms).
    expect(j.timing.ttftMs).toMatchObject({ n: 1, max: 400 });
    expect(j.timing.apiTimeMs).toMatchObject({ n: 2, max: 1500 });
    const show = await runCli(['show', f.path, 'p1', '--json']);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('incomplete');
  });
});
