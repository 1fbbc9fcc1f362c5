/**
 * The analyze fast path (SQLite rows read by rowid as UTF-8 bytes, bodies parsed incrementally by
 * BodyDeltaParser, per-message facts memoised by object identity) must give exactly the slow path's results:
 * bodies deep-equal to JSON.parse of the row, identical RequestFacts, identical analyses. The generated DB
 * mixes everything the delta parser must survive: moved cache_control markers, a marked text block that turns
 * into a plain string, `role: "system"` messages inside messages, concurrent sub-agents of one session,
 * messages-first key order, non-ASCII text and a non-canonical `\u00e9` escape, a changed tool list, resends,
 * a same-length change after the messages array, a rewritten (forked) history, duplicate keys, pretty-printed JSON and non-JSON bodies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDb } from '../../src/store/db.js';
import { iterateRequests } from '../../src/store/requests-repo.js';
import { openSource } from '../../src/store/sources/index.js';
import { rowToTraceRequest } from '../../src/store/sources/requests-row.js';
import { parseRequestBody } from '../../src/store/sources/response-parse.js';
import { BodyDeltaParser, commonPrefixLength } from '../../src/store/sources/body-delta.js';
import type { RequestsTable } from '../../src/store/db-types.js';
import { silentLogger } from '../../src/shared/logger.js';
import type { TraceRequest } from '../../src/shared/trace-record.js';
import { analyzeRequests, collectFacts } from '../../src/analyze/analyze-requests.js';
import { getTokenizer } from '../../src/analyze/tokenizers/index.js';
import { tmp } from '../store/sources-fixtures.js';
import Database from 'better-sqlite3';
import { CC_PROXY_REQUESTS_DDL } from '../../src/store/schema.js';

type Msg = { role: string; content: unknown };
const dir = tmp('fast-path');
const path = join(dir, 'requests.db');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TOOLS = [
  { name: 'Agent', description: 'Spawn a sub-agent', input_schema: { type: 'object', properties: { prompt: { type: 'string' } } } },
  { name: 'Read', description: 'Read a file', input_schema: { type: 'object' }, cache_control: { type: 'ephemeral' } },
];
const SUB_TOOLS = [{ name: 'Read', description: 'Read a file', input_schema: { type: 'object' } }];
const sys = (who: string, conv: string) => [
  { type: 'text', text: `x-anthropic-billing-header: cc_version=1; conv=${conv};` },
  { type: 'text', text: `You are ${who}.`, cache_control: { type: 'ephemeral' } },
];

/** Body text with cache_control on the newest block (removed from earlier ones), in the given key order. */
function bodyText(p: { messages: Msg[]; system: unknown; tools: unknown; session: string; messagesFirst?: boolean; stream?: boolean }): string {
  const msgs = structuredClone(p.messages) as { role: string; content: unknown }[];
  const last = msgs[msgs.length - 1];
  if (last && Array.isArray(last.content) && last.content.length) (last.content[last.content.length - 1] as Record<string, unknown>).cache_control = { type: 'ephemeral' };
  const metadata = { user_id: JSON.stringify({ device_id: 'd', session_id: p.session }) };
  const o = p.messagesFirst
    ? { model: 'claude-t', messages: msgs, system: p.system, tools: p.tools, metadata, max_tokens: 100, stream: p.stream ?? true }
    : { model: 'claude-t', max_tokens: 100, stream: p.stream ?? true, system: p.system, tools: p.tools, messages: msgs, metadata };
  return JSON.stringify(o);
}

interface Row {
  id: string;
  body: string;
  session: string | null;
  response?: unknown[];
  stream?: boolean;
}

function buildRows(): Row[] {
  const rows: Row[] = [];
  let n = 0;
  const add = (body: string, session: string | null, extra: Partial<Row> = {}) => rows.push({ id: `r${String(++n).padStart(3, '0')}`, body, session, ...extra });
  // Conversation A (session SA): main agent + two concurrent sub-agents.
  const main: Msg[] = [{ role: 'user', content: [{ type: 'text', text: 'Investigate the repo é 🚀' }] }];
  const subs: Msg[][] = [
    [{ role: 'user', content: 'Sub task one: read a.ts' }],
    [{ role: 'user', content: [{ type: 'text', text: 'Sub task two: read b.ts' }] }],
  ];
  // Conversation B (session SB): messages-first key order.
  const b: Msg[] = [{ role: 'user', content: 'Fix the bug in \u00e9t\u00e9.ts' }];
  let bTools: unknown = TOOLS;
  for (let turn = 0; turn < 14; turn++) {
    add(bodyText({ messages: main, system: sys('the main agent', 'A'), tools: TOOLS, session: 'SA' }), 'SA', {
      response: turn === 1 ? [{ type: 'tool_use', id: `toolu_spawn`, name: 'Agent', input: { prompt: 'Sub task one: read a.ts' } }] : [{ type: 'text', text: `ok ${turn}` }],
    });
    if (turn === 3) {
      // A resend of the same turn (stream retry: streaming, then non-streaming).
      add(bodyText({ messages: main, system: sys('the main agent', 'A'), tools: TOOLS, session: 'SA', stream: false }), 'SA', { stream: false });
    }
    main.push({ role: 'assistant', content: [{ type: 'text', text: `Step ${turn} “quoted”` }, { type: 'tool_use', id: `toolu_m${turn}`, name: 'Read', input: { file_path: `/f${turn}.ts` } }] });
    main.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: `toolu_m${turn}`, content: `contents ${turn} `.repeat(20 + turn) }] });
    if (turn === 5) {
      // The first (once marked) single text block becomes a plain string.
      main[0] = { role: 'user', content: 'Investigate the repo é 🚀' };
    }
    if (turn === 7) main.push({ role: 'system', content: 'A system reminder inside messages.' });
    for (const [i, s] of subs.entries()) {
      if (turn < 2) continue;
      add(bodyText({ messages: s, system: sys('a sub-agent', 'A'), tools: SUB_TOOLS, session: 'SA' }), 'SA');
      s.push({ role: 'assistant', content: [{ type: 'tool_use', id: `toolu_s${i}_${turn}`, name: 'Read', input: { file_path: `/s${i}.ts` } }] });
      s.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: `toolu_s${i}_${turn}`, content: [{ type: 'text', text: `sub ${i} data ${turn}` }] }] });
    }
    if (turn === 9) bTools = SUB_TOOLS; // the tool list changes mid-conversation
    // From turn 11 the system prompt (after messages in this key order) changes without changing length.
    let bt = bodyText({ messages: b, system: sys(turn >= 11 ? 'a FIXER' : 'a fixer', 'B'), tools: bTools, session: 'SB', messagesFirst: true });
    if (turn === 4) bt = bt.replace('été', '\\u00e9t\\u00e9'); // non-canonical escape: same value, different bytes
    add(bt, null); // no session column: the parser must find the chain by content
    b.push({ role: 'assistant', content: [{ type: 'thinking', thinking: `hmm ${turn}`, signature: `sig${turn}` }, { type: 'text', text: `B ${turn}` }] });
    b.push({ role: 'user', content: `next ${turn}` });
    if (turn === 10) {
      // A rewritten history (fork): an earlier message changes.
      b[2] = { role: 'user', content: 'edited earlier message' };
    }
  }
  // Oddities.
  add('not json at all', null);
  add('[1,2,3]', null);
  add('', null);
  add(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'pretty' }] }, null, 2), 'SP');
  add('{"model":"m","messages":[{"role":"user","content":"first"}],"messages":[{"role":"user","content":"dup"}]}', 'SD');
  add('{"model":"m","messages":[{"role":"user","content":"first"}],"messages":[{"role":"user","content":"dup"},{"role":"assistant","content":"x"}]}', 'SD');
  add(JSON.stringify({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'quota' }] }), 'SA');
  return rows;
}

let rows: Row[] = [];
beforeAll(() => {
  rows = buildRows();
  const db = openDb(path);
  const ins = db.prepare(
    `INSERT INTO requests (id, timestamp, method, endpoint, headers, body, response, model, session_id, is_streaming, status, started_at_ms, ttft_ms, duration_ms,
      input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens, stop_reason, message_id, seq, state)
     VALUES (?, ?, 'POST', '/v1/messages', '{}', ?, ?, 'claude-t', ?, ?, 200, ?, 50, 400, 10, 5, ?, 20, ?, ?, ?, 'complete')`,
  );
  const t0 = Date.parse('2026-11-01T00:00:00Z');
  rows.forEach((r, i) => {
    const response = r.response ? JSON.stringify({ body: { id: `msg_${r.id}`, type: 'message', role: 'assistant', model: 'claude-t', content: r.response, stop_reason: 'end_turn', usage: { input_tokens: 10, output_tokens: 5 } } }) : null;
    ins.run(r.id, new Date(t0 + i * 1000).toISOString(), r.body, response, r.session, r.stream === false ? 0 : 1, t0 + i * 1000, i * 3, r.response?.some((x) => (x as { type: string }).type === 'tool_use') ? 'tool_use' : 'end_turn', `msg_${r.id}`, i + 1);
  });
  // A body stored as a BLOB (not text): no body, not malformed, on both paths.
  db.prepare(`INSERT INTO requests (id, method, endpoint, headers, body, started_at_ms, seq) VALUES ('blob', 'POST', '/v1/messages', '{}', ?, ?, 9999)`).run(Buffer.from('{"model":"m","messages":[]}'), t0 + rows.length * 1000);
  db.close();
});

/** The slow path: every row parsed in full (the pre-fast-path importer). */
function slowRequests(): { requests: TraceRequest[]; skipped: number } {
  const db = openDb(path, { readonly: true, mustExist: true });
  const requests: TraceRequest[] = [];
  let skipped = 0;
  for (const row of iterateRequests(db)) {
    try {
      requests.push(rowToTraceRequest(row as Partial<RequestsTable>, 'trace-db'));
    } catch {
      skipped++;
    }
  }
  db.close();
  return { requests, skipped };
}

function fastRequests(): { requests: TraceRequest[]; skipped: number } {
  const src = openSource(path, { logger: silentLogger });
  const requests = [...src.requests()];
  const skipped = src.stats.skipped;
  src.close();
  return { requests, skipped };
}

describe('analyze fast path ≡ slow path', () => {
  it('the delta parser returns bodies deep-equal to a full JSON.parse, and really parses incrementally', () => {
    const p = new BodyDeltaParser();
    for (const r of rows) {
      const got = p.parse(Buffer.from(r.body, 'utf8'), r.session);
      expect(got).toStrictEqual(parseRequestBody(r.body));
    }
    // Most conversation turns take the delta path; oddities and chain starts are parsed in full.
    expect(p.stats.delta).toBeGreaterThan(rows.length / 2);
    expect(p.stats.full).toBeGreaterThan(5);
    expect(p.stats.parsedBytes).toBeLessThan(p.stats.totalBytes / 2);
  });

  it('keeps working (falls back to full parses) when its chain memory is smaller than the concurrency', () => {
    const p = new BodyDeltaParser(1, 1 << 30);
    for (const r of rows) expect(p.parse(r.body, r.session)).toStrictEqual(parseRequestBody(r.body));
    const q = new BodyDeltaParser(64, 1); // byte budget below one body: keeps only the latest
    for (const r of rows) expect(q.parse(r.body, null)).toStrictEqual(parseRequestBody(r.body));
  });

  it('the SQLite importer yields the same requests (bodies deep-equal, frozen when shared) and skips the same rows', () => {
    const slow = slowRequests();
    const fast = fastRequests();
    expect(fast.skipped).toBe(slow.skipped);
    expect(slow.skipped).toBe(2); // 'not json at all' and '[1,2,3]'
    expect(fast.requests.find((r) => r.id === 'blob')?.body).toBeNull();
    expect(fast.requests).toStrictEqual(slow.requests);
    const shared = fast.requests.filter((r) => r.body && Object.isFrozen(r.body));
    expect(shared.length).toBeGreaterThan(20);
    expect(() => {
      (shared[5]!.body!.messages as unknown[]).push({ role: 'user', content: 'x' });
    }).toThrow(TypeError);
  });

  it('gives identical facts and analyses (linking, usage, token breakdown)', () => {
    const slow = slowRequests().requests;
    const fast = fastRequests().requests;
    for (const tok of [null, 'chars4', 'o200k', 'claude']) {
      const tokenizer = tok ? getTokenizer(tok) : null;
      expect(collectFacts(fast, { tokenizer }).facts).toStrictEqual(collectFacts(slow, { tokenizer }).facts);
      const a = analyzeRequests(fast, { tokenizer });
      expect(a).toStrictEqual(analyzeRequests(slow, { tokenizer }));
      // The scenario is really exercised: 2 conversations, sub-agents, a stream retry, a fork.
      expect(a.totals.subagents).toBeGreaterThanOrEqual(2);
      expect(a.totals.duplicates).toBeGreaterThanOrEqual(1);
    }
  });
});

describe('SQLite read fallbacks', () => {
  it.each([
    ['a UTF-16 database (read through iterateRequests)', "PRAGMA encoding = 'UTF-16le'", CC_PROXY_REQUESTS_DDL],
    ['a UTF-8 claude-code-proxy table (rowid + bytes path)', '', CC_PROXY_REQUESTS_DDL],
  ])('%s gives the slow path results', (_name, pragma, ddl) => {
    const p = join(dir, `fallback-${Math.random().toString(36).slice(2)}.db`);
    const raw = new Database(p);
    if (pragma) raw.exec(pragma);
    raw.exec(ddl);
    const ins = raw.prepare(`INSERT INTO requests (id, timestamp, method, endpoint, headers, body, response) VALUES (?, ?, 'POST', '/v1/messages', '{}', ?, NULL)`);
    rows.slice(0, 40).forEach((r, i) => ins.run(r.id, `2026-11-01 00:00:${String(i).padStart(2, '0')}`, r.body));
    const slow: TraceRequest[] = [];
    for (const row of iterateRequests(raw as unknown as Parameters<typeof iterateRequests>[0])) slow.push(rowToTraceRequest(row as Partial<RequestsTable>, 'cc-proxy-db'));
    raw.close();
    const src = openSource(p, { logger: silentLogger });
    expect(src.kind).toBe('cc-proxy-db');
    const fast = [...src.requests()];
    src.close();
    expect(fast).toStrictEqual(slow);
    expect(fast.length).toBe(40);
  });
});

describe('commonPrefixLength', () => {
  it('equals a naive byte scan on varied inputs', () => {
    let x = 12345;
    const rnd = (m: number) => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) % m);
    for (let t = 0; t < 200; t++) {
      const len = rnd(3) === 0 ? rnd(20) : rnd(300000);
      const a = Buffer.alloc(len, 'a');
      for (let i = 0; i < len; i += 1 + rnd(1000)) a[i] = 97 + rnd(3);
      const b = Buffer.from(a.subarray(0, rnd(len + 1)));
      const cut = rnd(b.length + 1);
      if (cut < b.length && rnd(2) === 0) b[cut] = b[cut]! ^ 1;
      let naive = 0;
      while (naive < Math.min(a.length, b.length) && a[naive] === b[naive]) naive++;
      expect(commonPrefixLength(a, b)).toBe(naive);
    }
  });
});
