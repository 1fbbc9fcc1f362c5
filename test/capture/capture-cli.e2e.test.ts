/** `trace capture` as a real process (bin/trace.js → dist/): start, traffic, SIGTERM summary, SIGKILL evidence. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Agent, request } from 'undici';
import { createFakeAnthropic, textReply, type FakeAnthropic } from '../helpers/fake-anthropic.js';
import { spawnCapture, type SpawnedCapture } from './spawn-capture.js';
import { messagesBody } from './harness.js';
import type { RequestsTable } from '../../src/store/db-types.js';
import { FIXTURES, HAS_SHARED, TRACE_BIN } from '../helpers/paths.js';

let fake: FakeAnthropic | undefined;
let cap: SpawnedCapture | undefined;
let dir: string | undefined;
afterEach(async () => {
  await cap?.kill9();
  await fake?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  cap = fake = dir = undefined;
});

async function post(url: string, agent: Agent, body = messagesBody()) {
  const res = await request(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'sk-plain-secret' },
    body: JSON.stringify(body),
    dispatcher: agent,
  });
  return { status: res.statusCode, text: await res.body.text() };
}

describe('trace capture (process)', () => {
  it('prints the listening line, records traffic, and prints a JSON summary on SIGTERM', async () => {
    fake = createFakeAnthropic();
    await fake.listen();
    dir = mkdtempSync(join(tmpdir(), 'trace-cap-cli-'));
    const db = join(dir, 'requests.db');
    cap = await spawnCapture(['--upstream', fake.url, '--db', db, '--json']);
    expect(cap.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const agent = new Agent();
    for (let i = 0; i < 3; i++) {
      const r = await post(cap.url, agent);
      expect(r.status).toBe(200);
      expect(r.text).toContain('message_stop');
    }
    await agent.close();
    expect(await cap.stop()).toBe(0);
    const summary = JSON.parse(cap.stdout()) as Record<string, unknown>;
    expect(summary).toMatchObject({ url: cap.url, upstream: `${fake.url}/`, db, requests: 3, complete: 3, errors: 0, aborted: 0, dbWriteErrors: 0 });
    const rdb = new Database(db, { readonly: true });
    const rows = rdb.prepare('SELECT * FROM requests ORDER BY seq').all() as RequestsTable[];
    rdb.close();
    expect(rows).toHaveLength(3);
    expect(rows.every((r) => r.state === 'complete' && r.ttft_ms !== null && r.input_tokens !== null)).toBe(true);
    expect(JSON.stringify(rows)).not.toContain('sk-plain-secret');
  });

  it('SIGTERM with a stream that finishes within --shutdown-grace: the client gets it whole and the row is complete', async () => {
    fake = createFakeAnthropic({ script: () => textReply('v'.repeat(20), { pieceSize: 1, eventDelayMs: 60 }) }); // ~1.5 s
    await fake.listen();
    dir = mkdtempSync(join(tmpdir(), 'trace-cap-grace-'));
    const db = join(dir, 'requests.db');
    cap = await spawnCapture(['--upstream', fake.url, '--db', db, '--json']);
    const agent = new Agent();
    const res = await request(`${cap.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(messagesBody()), dispatcher: agent });
    const text = res.body.text();
    await fake.waitFor(() => fake!.messages().length === 1);
    expect(await cap.stop()).toBe(0);
    expect(await text).toContain('message_stop');
    await agent.destroy();
    expect(JSON.parse(cap.stdout())).toMatchObject({ requests: 1, complete: 1, aborted: 0, cut: 0, inFlight: 0 });
    const rdb = new Database(db, { readonly: true });
    const row = rdb.prepare('SELECT state, error, output_tokens FROM requests').get() as RequestsTable;
    rdb.close();
    expect(row).toMatchObject({ state: 'complete', error: null });
  });

  it('SIGTERM with a stream still in flight after the grace: exits 0, the cut request is stored as cut and the upstream saw the abort', async () => {
    fake = createFakeAnthropic({ script: () => textReply('w'.repeat(100), { pieceSize: 1, eventDelayMs: 200 }) });
    await fake.listen();
    dir = mkdtempSync(join(tmpdir(), 'trace-cap-term-'));
    const db = join(dir, 'requests.db');
    cap = await spawnCapture(['--upstream', fake.url, '--db', db, '--json', '--shutdown-grace', '0.5']);
    const agent = new Agent();
    const res = await request(`${cap.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(messagesBody()), dispatcher: agent });
    const it = res.body[Symbol.asyncIterator]();
    await it.next();
    expect(await cap.stop()).toBe(0);
    await expect((async () => {
      for (let r = await it.next(); !r.done; r = await it.next());
    })()).rejects.toThrow();
    await agent.destroy();
    await fake.waitFor(() => fake!.aborts().length === 1);
    expect(JSON.parse(cap.stdout())).toMatchObject({ requests: 1, aborted: 1, cut: 1, inFlight: 0 });
    const rdb = new Database(db, { readonly: true });
    const row = rdb.prepare('SELECT state, error, status FROM requests').get() as RequestsTable;
    rdb.close();
    expect(row).toMatchObject({ state: 'aborted', status: 200, error: 'cut by proxy shutdown: still in flight after the 0.5 s grace' });
  });

  it('rejects a bad --upstream with exit code 2', async () => {
    dir = mkdtempSync(join(tmpdir(), 'trace-cap-cli-'));
    await expect(spawnCapture(['--upstream', 'not a url', '--db', join(dir, 'x.db')], 15_000)).rejects.toThrow(/exited \(2\)/);
  });

  it('kill -9 during capture leaves a readable DB with the in-flight request as a pending row', async () => {
    fake = createFakeAnthropic({
      // request 0 completes; request 1 streams slowly and is in flight when the proxy dies
      script: (_b, i) => (i === 0 ? textReply('done') : textReply('z'.repeat(200), { pieceSize: 2, eventDelayMs: 200 })),
    });
    await fake.listen();
    dir = mkdtempSync(join(tmpdir(), 'trace-cap-kill-'));
    const db = join(dir, 'requests.db');
    cap = await spawnCapture(['--upstream', fake.url, '--db', db]);
    const agent = new Agent();
    expect((await post(cap.url, agent)).status).toBe(200);
    const res = await request(`${cap.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(messagesBody()), dispatcher: agent });
    const it = res.body[Symbol.asyncIterator]();
    await it.next(); // the stream is flowing through the proxy
    // Its pending row is written PENDING_WRITE_HOLD_MS after arrival: wait until it is in the DB (another process's
    // read), then kill.
    await vi.waitFor(() => {
      const probe = new Database(db, { readonly: true, fileMustExist: true });
      try {
        expect((probe.prepare('SELECT count(*) AS n FROM requests').get() as { n: number }).n).toBe(2);
      } finally {
        probe.close();
      }
    }, { timeout: 20_000, interval: 10 });
    await cap.kill9();
    await expect((async () => {
      for (let r = await it.next(); !r.done; r = await it.next());
    })()).rejects.toThrow();
    await agent.destroy();
    expect(existsSync(db)).toBe(true);
    const rdb = new Database(db, { readonly: true, fileMustExist: true });
    expect(rdb.pragma('integrity_check', { simple: true })).toBe('ok');
    const rows = rdb.prepare('SELECT * FROM requests ORDER BY seq').all() as RequestsTable[];
    rdb.close();
    expect(rows).toHaveLength(2);
    expect(rows[0]!.state).toBe('complete');
    expect(rows[1]!.state).toBe('pending');
    expect(rows[1]!.model).toBe('claude-opus-4-8');
    expect(rows[1]!.body).toBe(JSON.stringify(messagesBody()));
  });
});

describe.skipIf(!HAS_SHARED)('trace capture --compact-bodies (process) → trace export --format claude-code-proxy', () => {
  it('stores real Claude Code bodies as skeletons and exports every one byte-exact as the upstream received it', async () => {
    fake = createFakeAnthropic();
    await fake.listen();
    dir = mkdtempSync(join(tmpdir(), 'trace-cap-compact-'));
    const db = join(dir, 'requests.db');
    cap = await spawnCapture(['--upstream', fake.url, '--db', db, '--compact-bodies']);
    const files = readdirSync(join(FIXTURES, 'claude-code')).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    const agent = new Agent();
    for (const f of files) {
      const body = JSON.parse(readFileSync(join(FIXTURES, 'claude-code', f), 'utf8')) as Record<string, unknown>;
      // Two serialisations of each: compact, and pretty-printed with escaped non-ASCII (bytes a re-serialiser loses).
      for (const text of [JSON.stringify(body), JSON.stringify(body, null, 2).replace(/[\u0080-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'))]) {
        const res = await request(`${cap.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'sk-x' }, body: text, dispatcher: agent });
        expect(res.statusCode).toBe(200);
        await res.body.text();
      }
    }
    await agent.close();
    expect(await cap.stop()).toBe(0);
    const sent = fake.requests.filter((r) => r.path === '/v1/messages').map((r) => r.bodyText);
    expect(sent).toHaveLength(files.length * 2);

    const rdb = new Database(db, { readonly: true });
    const stored = rdb.prepare('SELECT body, body_skeleton, request_bytes FROM requests ORDER BY seq').all() as { body: string; body_skeleton: Buffer | null; request_bytes: number }[];
    const onDisk = (rdb.prepare('SELECT coalesce(sum(length(data)), 0) AS n FROM body_segments').get() as { n: number }).n + stored.reduce((a, r) => a + (r.body_skeleton?.length ?? 0), 0);
    rdb.close();
    expect(stored.every((r) => r.body === '' && r.body_skeleton !== null)).toBe(true);
    const rawBytes = sent.reduce((a, t) => a + Buffer.byteLength(t), 0);
    expect(onDisk).toBeLessThan(rawBytes / 4); // the tools and system blocks are stored once

    const out = join(dir, 'cc-proxy.db');
    const ex = spawnSync(process.execPath, [TRACE_BIN, 'export', db, '--format', 'claude-code-proxy', '--out', out], { encoding: 'utf8' });
    expect(ex.status, ex.stderr).toBe(0);
    const xdb = new Database(out, { readonly: true });
    const exported = (xdb.prepare("SELECT body FROM requests WHERE endpoint = '/v1/messages' ORDER BY timestamp, rowid").all() as { body: string }[]).map((r) => r.body);
    xdb.close();
    expect(exported.sort()).toEqual([...sent].sort());
  }, 60_000);
});
