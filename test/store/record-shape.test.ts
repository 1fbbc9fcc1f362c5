/**
 * Defect 1 of issue 15: a row whose `messages` (or another field the analysis relies on) has the wrong shape is
 * skipped with a one-line warning and counted in `skipped` by every importer, instead of crashing analysis.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { memoryLogger } from '../../src/shared/logger.js';
import { openSource } from '../../src/store/sources/index.js';
import { requestBodyProblem, responseProblem } from '../../src/store/sources/record-shape.js';
import { fixtureBody, makeAnyclaudeDir, makeCcProxyDb, makeTraceDb, tmp } from './sources-fixtures.js';

const dir = tmp('record-shape');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = fixtureBody('main-text');
/** Bodies with one malformed field each (the rest is a real Claude Code body). */
const BAD_BODIES: Record<string, unknown> = {
  'messages-string': { ...base, messages: 'hi' },
  'messages-number': { ...base, messages: 42 },
  'messages-null': { ...base, messages: null },
  'message-not-object': { ...base, messages: ['hello'] },
  'content-number': { ...base, messages: [{ role: 'user', content: 5 }] },
  'content-null': { ...base, messages: [{ role: 'user', content: null }] },
  'role-missing': { ...base, messages: [{ content: 'hi' }] },
  'text-not-string': { ...base, messages: [{ role: 'user', content: [{ type: 'text', text: 7 }] }] },
  'tools-string': { ...base, tools: 'Read' },
  'system-number': { ...base, system: 3 },
  'model-number': { ...base, model: 4 },
  'user-id-object': { ...base, metadata: { user_id: { a: 1 } } },
};

describe('requestBodyProblem (the one shape check)', () => {
  it('accepts real Claude Code bodies, absent bodies and bodies without messages', () => {
    for (const name of ['main-text', 'main-tool-first', 'main-tool-result', 'subagent', 'title-haiku']) expect(requestBodyProblem(fixtureBody(name))).toBeNull();
    expect(requestBodyProblem(null)).toBeNull();
    expect(requestBodyProblem({ model: 'x' })).toBeNull();
    expect(requestBodyProblem({ messages: [{ role: 'system', content: 'x' }, { role: 'user', content: [{ type: 'image', source: {} }] }] })).toBeNull();
  });
  it('names the malformed field', () => {
    expect(requestBodyProblem(BAD_BODIES['messages-string'])).toBe('messages is a string, not an array');
    expect(requestBodyProblem(BAD_BODIES['messages-null'])).toBe('messages is null, not an array');
    expect(requestBodyProblem(BAD_BODIES['content-number'])).toBe('messages[0].content is a number, not a string or an array');
    expect(requestBodyProblem(BAD_BODIES['tools-string'])).toBe('tools is a string, not an array');
    expect(requestBodyProblem([1, 2])).toBe('request body is an array, not an object');
    for (const b of Object.values(BAD_BODIES)) expect(requestBodyProblem(b)).not.toBeNull();
  });
  it('checks response content blocks', () => {
    const m = { id: 'm', type: 'message', role: 'assistant', model: 'x', content: [null], stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 } };
    expect(responseProblem(m as never)).toBe('response content[0] is not an object');
    expect(responseProblem(null)).toBeNull();
  });
});

function addBadRows(path: string, table: 'trace' | 'cc-proxy'): void {
  const db = new Database(path);
  let t = Date.parse('2026-11-24T11:00:00Z');
  for (const [id, body] of Object.entries(BAD_BODIES)) {
    t += 1000;
    if (table === 'trace') {
      db.prepare("INSERT INTO requests (id, method, endpoint, headers, body, started_at_ms, status, state) VALUES (?, 'POST', '/v1/messages', '{}', ?, ?, 200, 'complete')").run(id, JSON.stringify(body), t);
    } else {
      db.prepare("INSERT INTO requests (id, timestamp, method, endpoint, headers, body, response) VALUES (?, ?, 'POST', '/v1/messages', '{}', ?, NULL)").run(id, new Date(t).toISOString(), JSON.stringify(body));
    }
  }
  db.close();
}

describe('importers skip malformed shapes and count them', () => {
  const n = Object.keys(BAD_BODIES).length;
  it('trace-db: every bad row skipped with one warning naming it; the good rows still yield', () => {
    const f = makeTraceDb(join(dir));
    addBadRows(f.path, 'trace');
    const logger = memoryLogger();
    const src = openSource(f.path, { logger });
    const rs = [...src.requests()];
    expect(rs.map((r) => r.id).sort()).toEqual(['a1', 'a2']);
    expect(src.stats).toEqual({ skipped: 1 + n, yielded: 2 });
    const warns = logger.lines.filter((l) => l.startsWith('warn:'));
    expect(warns).toHaveLength(1 + n);
    expect(warns.some((w) => w.includes('messages-null') && w.includes('messages is null'))).toBe(true);
    src.close();
  });

  it('cc-proxy-db: the same', () => {
    const sub = tmp('record-shape-cc');
    const f = makeCcProxyDb(sub);
    addBadRows(f.path, 'cc-proxy');
    const src = openSource(f.path, { logger: memoryLogger() });
    expect([...src.requests()]).toHaveLength(f.good);
    expect(src.stats.skipped).toBe(1 + n);
    src.close();
    rmSync(sub, { recursive: true, force: true });
  });

  it('anyclaude: the same', () => {
    const sub = tmp('record-shape-any');
    const f = makeAnyclaudeDir(sub);
    let i = 10;
    for (const body of Object.values(BAD_BODIES)) {
      i++;
      writeFileSync(join(f.path, 'claude', `2026-11-24T10-00-${i}-000Z.json`), JSON.stringify({ timestamp: `2026-11-24T10:00:${i}.000Z`, mode: 'claude', request: { method: 'POST', url: '/v1/messages', headers: {}, body }, response: { statusCode: 200, headers: {}, body: null } }));
    }
    const src = openSource(f.path, { logger: memoryLogger() });
    expect([...src.requests()]).toHaveLength(f.good);
    expect(src.stats.skipped).toBe(1 + n);
    src.close();
    rmSync(sub, { recursive: true, force: true });
  });
});

describe('shape check of delta-parsed bodies (messages shared with earlier bodies as a prefix)', () => {
  it('checks only the new messages, yet still refuses a body that shares a bad message with an earlier one', async () => {
    const { BodyDeltaParser } = await import('../../src/store/sources/body-delta.js');
    const { prefixSharedBodies } = await import('../../src/store/sources/record-shape.js');
    const msg = (i: number) => ({ role: i % 2 ? 'assistant' : 'user', content: [{ type: 'text', text: `message ${i} `.repeat(20) }] });
    const conv = (n: number, bad: number | null) => ({
      model: 'm', max_tokens: 8, system: [{ type: 'text', text: 'sys' }],
      messages: Array.from({ length: n }, (_, i) => (i === bad ? { role: 'user', content: [{ type: 'text', text: 42 }] } : msg(i))),
    });
    // a good conversation growing turn by turn: delta-parsed, checked and accepted
    const good = new BodyDeltaParser();
    let deltas = 0;
    for (let n = 2; n <= 12; n += 2) {
      const body = good.parse(JSON.stringify(conv(n, null)), 's');
      if (prefixSharedBodies.has(body!)) deltas++;
      expect(requestBodyProblem(body)).toBeNull();
    }
    expect(deltas).toBeGreaterThan(2);
    // a conversation with a malformed message 3: the first body is refused, and so is every later body that
    // extends it through the delta parser (the bad message object is shared, never marked checked)
    const bad = new BodyDeltaParser();
    const first = bad.parse(JSON.stringify(conv(6, 3)), 't');
    expect(requestBodyProblem(first)).toMatch(/messages\[3\]\.content\[0\] is a text block without string text/);
    for (let n = 8; n <= 12; n += 2) {
      const body = bad.parse(JSON.stringify(conv(n, 3)), 't');
      expect(prefixSharedBodies.has(body!)).toBe(true);
      expect(requestBodyProblem(body)).toMatch(/messages\[3\]/);
    }
  });
});
