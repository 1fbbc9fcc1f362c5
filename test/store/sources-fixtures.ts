/**
 * Tiny source fixtures for the importer contract suite, written under os.tmpdir(). Bodies come from
 * ../shared/fixtures/claude-code when present (else small synthetic bodies); responses are built here.
 * Each fixture holds exactly ONE malformed record, which the importer must skip (stats.skipped === 1).
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CC_PROXY_REQUESTS_DDL } from '../../src/store/schema.js';
import { openDb } from '../../src/store/db.js';
import { upsertRequest } from '../../src/store/requests-repo.js';
import type { AssistantMessage, ContentBlock, MessagesRequest, Usage } from '../../src/shared/anthropic.js';
import { FIXTURES, HAS_SHARED } from '../helpers/paths.js';
import { iterateRequests, openSource } from '../../src/store/sources/index.js';
import { silentLogger } from '../../src/shared/logger.js';
import type { TraceRequest } from '../../src/shared/trace-record.js';

/** Every request of a source (any kind, sync or async), in its order. */
export async function readSource(path: string): Promise<TraceRequest[]> {
  const src = openSource(path, { logger: silentLogger });
  const out: TraceRequest[] = [];
  try {
    for await (const r of iterateRequests(src)) out.push(r);
  } finally {
    src.close();
  }
  return out;
}

export function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `trace-${prefix}-`));
}

const SYNTH_TOOLS = [{ name: 'Read', description: 'Read a file', input_schema: { type: 'object' } }];

/** A claude-code fixture body by short name (main-text, main-tool-first, main-tool-result, subagent, title-haiku). */
export function fixtureBody(name: string): MessagesRequest {
  if (HAS_SHARED) return JSON.parse(readFileSync(join(FIXTURES, 'claude-code', `${name}-2.1.197.json`), 'utf8')) as MessagesRequest;
  const sys = [{ type: 'text' as const, text: 'x-anthropic-billing-header: cc_version=test;' }, { type: 'text' as const, text: 'You are an agent.' }];
  const meta = { user_id: JSON.stringify({ device_id: 'd', session_id: name === 'main-text' || name === 'title-haiku' ? 's-text' : 's-tool' }) };
  if (name === 'main-tool-result') {
    return {
      model: 'm', system: sys, tools: SYNTH_TOOLS, metadata: meta, stream: true,
      messages: [
        { role: 'user', content: 'Read the file hello.txt' },
        { role: 'assistant', content: [{ type: 'text', text: 'Let me read the file.' }, { type: 'tool_use', id: 'toolu_1', name: 'Read', input: { file_path: 'hello.txt' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'hello' }] },
      ],
    };
  }
  return { model: 'm', system: sys, tools: name === 'title-haiku' ? [] : SYNTH_TOOLS, metadata: meta, stream: true, messages: [{ role: 'user', content: name === 'title-haiku' ? 'Generate a title' : 'Read the file hello.txt' }] };
}

export function message(id: string, content: ContentBlock[], usage: Usage, stop = 'end_turn', model = 'claude-test'): AssistantMessage {
  return { id, type: 'message', role: 'assistant', model, content, stop_reason: stop, stop_sequence: null, usage };
}

/** Anthropic SSE events for a message: [event, data-json] pairs (input/cache usage at start, output at delta). */
export function sseEvents(m: AssistantMessage): [string, string][] {
  const ev: [string, unknown][] = [];
  ev.push(['message_start', { type: 'message_start', message: { ...m, content: [], stop_reason: null, usage: { ...m.usage, output_tokens: 1 } } }]);
  m.content.forEach((b, i) => {
    if (b.type === 'text') {
      ev.push(['content_block_start', { type: 'content_block_start', index: i, content_block: { type: 'text', text: '' } }]);
      const t = (b as { text: string }).text;
      for (let k = 0; k < t.length; k += 7) ev.push(['content_block_delta', { type: 'content_block_delta', index: i, delta: { type: 'text_delta', text: t.slice(k, k + 7) } }]);
    } else if (b.type === 'tool_use') {
      const tu = b as { id: string; name: string; input: unknown };
      ev.push(['content_block_start', { type: 'content_block_start', index: i, content_block: { type: 'tool_use', id: tu.id, name: tu.name, input: {} } }]);
      const j = JSON.stringify(tu.input);
      for (let k = 0; k < j.length; k += 5) ev.push(['content_block_delta', { type: 'content_block_delta', index: i, delta: { type: 'input_json_delta', partial_json: j.slice(k, k + 5) } }]);
    }
    ev.push(['content_block_stop', { type: 'content_block_stop', index: i }]);
  });
  ev.push(['message_delta', { type: 'message_delta', delta: { stop_reason: m.stop_reason, stop_sequence: null }, usage: { output_tokens: m.usage.output_tokens } }]);
  ev.push(['message_stop', { type: 'message_stop' }]);
  return ev.map(([e, d]) => [e, JSON.stringify(d)]);
}

export function sseText(m: AssistantMessage): string {
  return sseEvents(m).map(([e, d]) => `event: ${e}\ndata: ${d}\n\n`).join('');
}

export const U = (input: number, read: number, created: number, output: number): Usage => ({
  input_tokens: input,
  cache_read_input_tokens: read,
  cache_creation_input_tokens: created,
  output_tokens: output,
});

export const TOOL_FIRST_RESPONSE = (toolUseId: string) =>
  message('msg_tool_first', [{ type: 'text', text: 'Let me read the file.' }, { type: 'tool_use', id: toolUseId, name: 'Read', input: { file_path: '/tmp/probe-cc/work-tool/hello.txt' } }], U(3, 0, 20000, 50), 'tool_use');

/** tool_use id used by the main-tool-result fixture's assistant message. */
export function toolUseIdOf(body: MessagesRequest): string {
  for (const m of body.messages) if (m.role === 'assistant' && Array.isArray(m.content)) for (const b of m.content) if (b.type === 'tool_use') return (b as { id: string }).id;
  return 'toolu_1';
}

export interface CcProxyFixture {
  path: string;
  /** Expected usage per row id (non-malformed rows). */
  usage: Record<string, Usage>;
  good: number;
}

/**
 * claude-code-proxy DB: only their columns (user_version 0). Rows: main-tool-first streamed (streamingChunks as
 * bare data payloads), main-tool-result non-streaming (body JSON), title streamed with full `event:/data:` lines,
 * main-text with bodyText, one malformed row (body not JSON).
 */
export function makeCcProxyDb(dir: string): CcProxyFixture {
  const path = join(dir, 'cc-proxy.db');
  const db = new Database(path);
  db.exec(CC_PROXY_REQUESTS_DDL);
  const ins = db.prepare(
    'INSERT INTO requests (id, timestamp, method, endpoint, headers, body, user_agent, content_type, response, model) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const first = fixtureBody('main-tool-first');
  const result = fixtureBody('main-tool-result');
  const title = fixtureBody('title-haiku');
  const text = fixtureBody('main-text');
  const tuid = toolUseIdOf(result);
  const r1 = TOOL_FIRST_RESPONSE(tuid);
  const r2 = message('msg_tool_result', [{ type: 'text', text: 'The file says: Hello, probe!' }], U(5, 20000, 120, 30));
  const r3 = message('msg_title', [{ type: 'text', text: '{"title":"Who are you"}' }], U(150, 0, 0, 12), 'end_turn', 'claude-haiku-4-5-20251001');
  const r4 = message('msg_text', [{ type: 'text', text: 'I am Claude.' }], U(7, 0, 21000, 9));
  const log = (extra: Record<string, unknown>) => JSON.stringify({ statusCode: 200, headers: {}, responseTime: 1500, completedAt: '2026-11-24T10:00:05Z', ...extra });
  const h = JSON.stringify({ 'User-Agent': ['claude-cli/2.1.197'] });
  ins.run('r1', '2026-11-24 10:00:00', 'POST', '/v1/messages', h, JSON.stringify(first), 'claude-cli', 'application/json',
    log({ isStreaming: true, streamingChunks: sseEvents(r1).map(([, d]) => d) }), first.model);
  ins.run('r2', '2026-11-24 10:00:03', 'POST', '/v1/messages', h, JSON.stringify(result), 'claude-cli', 'application/json',
    log({ isStreaming: false, body: r2 }), result.model);
  ins.run('r3', '2026-11-24 10:01:00', 'POST', '/v1/messages', h, JSON.stringify(title), 'claude-cli', 'application/json',
    log({ isStreaming: true, streamingChunks: sseEvents(r3).map(([e, d]) => `event: ${e}\ndata: ${d}`) }), title.model);
  ins.run('r4', '2026-11-24 10:00:59', 'POST', '/v1/messages', h, JSON.stringify(text), 'claude-cli', 'application/json',
    log({ isStreaming: false, bodyText: JSON.stringify(r4) }), text.model);
  ins.run('bad', '2026-11-24 10:02:00', 'POST', '/v1/messages', h, '{"model": "x", "messages": [', 'claude-cli', 'application/json', 'not json', null);
  db.close();
  return { path, usage: { r1: r1.usage, r2: r2.usage, r3: r3.usage, r4: r4.usage }, good: 4 };
}

/** Our requests.db with trace columns (usage in columns, SSE events recorded) + one malformed row. */
export function makeTraceDb(dir: string): { path: string; good: number } {
  const path = join(dir, 'requests.db');
  const db = openDb(path);
  const first = fixtureBody('main-tool-first');
  const result = fixtureBody('main-tool-result');
  const r1 = TOOL_FIRST_RESPONSE(toolUseIdOf(result));
  const r2 = message('msg_tool_result', [{ type: 'text', text: 'Hello, probe!' }], U(5, 20000, 120, 30));
  const t0 = Date.parse('2026-11-24T10:00:00Z');
  upsertRequest(db, {
    id: 'a1', method: 'POST', endpoint: '/v1/messages', headers: '{}', body: JSON.stringify(first), model: first.model,
    is_streaming: 1, status: 200, started_at_ms: t0, ttft_ms: 400, duration_ms: 1500, input_tokens: 3, output_tokens: 50,
    cache_read_input_tokens: 0, cache_creation_input_tokens: 20000, stop_reason: 'tool_use', message_id: r1.id, state: 'complete', seq: 1,
    sse_events: JSON.stringify(sseEvents(r1).map(([e, d], i) => [i, e, d])),
  });
  upsertRequest(db, {
    id: 'a2', method: 'POST', endpoint: '/v1/messages', headers: '{}', body: JSON.stringify(result), model: result.model,
    is_streaming: 0, status: 200, started_at_ms: t0 + 3000, duration_ms: 900, state: 'complete', seq: 2,
    response: JSON.stringify({ statusCode: 200, headers: {}, body: r2, responseTime: 900, isStreaming: false, completedAt: '' }),
  });
  upsertRequest(db, { id: 'a3', method: 'POST', endpoint: '/v1/messages', headers: '{}', body: 'garbage{', started_at_ms: t0 + 5000, seq: 3 });
  db.close();
  return { path, good: 2 };
}

/** anyclaude traces/<mode>/*.json: one raw-SSE response body, one message-object body, one malformed file. */
export function makeAnyclaudeDir(dir: string): { path: string; good: number } {
  const root = join(dir, 'traces');
  mkdirSync(join(root, 'claude'), { recursive: true });
  const first = fixtureBody('main-tool-first');
  const result = fixtureBody('main-tool-result');
  const r1 = TOOL_FIRST_RESPONSE(toolUseIdOf(result));
  const r2 = message('msg_tool_result', [{ type: 'text', text: 'Hello, probe!' }], U(5, 20000, 120, 30));
  const write = (name: string, v: unknown) => writeFileSync(join(root, 'claude', name), typeof v === 'string' ? v : JSON.stringify(v, null, 2));
  write('2026-11-24T10-00-00-000Z.json', {
    timestamp: '2026-11-24T10:00:00.000Z', mode: 'claude',
    request: { method: 'POST', url: 'https://api.anthropic.com/v1/messages', headers: { 'x-api-key': '[REDACTED]' }, body: first },
    response: { statusCode: 200, headers: {}, body: sseText(r1) },
  });
  write('2026-11-24T10-00-03-000Z.json', {
    timestamp: '2026-11-24T10:00:03.000Z', mode: 'claude',
    request: { method: 'POST', url: '/v1/messages', headers: {}, body: result },
    response: { statusCode: 200, headers: {}, body: r2 },
  });
  write('2026-11-24T10-00-09-000Z.json', '{"timestamp": "2026-11-24T10:00:09.000Z", "mode": "claude", "request": {');
  return { path: root, good: 2 };
}

/**
 * Claude Code JSONL project dir: a parent session (user → assistant split over 2 entries sharing message.id →
 * Agent tool_use → progress echoes of the sub-agent → final answer), the sub-agent's own file, one malformed
 * line and a truncated last line (counted as malformed too: 2 skipped).
 */
export function makeJsonlDir(dir: string): { path: string; good: number; skipped: number; usage: Usage } {
  const root = join(dir, 'proj');
  mkdirSync(root, { recursive: true });
  const sid = '11111111-2222-3333-4444-555555555555';
  const base = { sessionId: sid, cwd: '/w', version: '2.1.197', userType: 'external' };
  const u = (uuid: string, parent: string | null, ts: string, content: unknown, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ ...base, type: 'user', uuid, parentUuid: parent, timestamp: ts, isSidechain: false, message: { role: 'user', content }, ...extra });
  const a = (uuid: string, parent: string, ts: string, id: string, content: unknown[], usage: Usage, stop: string | null, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ ...base, type: 'assistant', uuid, parentUuid: parent, timestamp: ts, isSidechain: false, message: { id, type: 'message', role: 'assistant', model: 'claude-opus-test', content, stop_reason: stop, usage }, ...extra });
  const prompt = 'Read hello.txt and report its contents.';
  const subUsage = U(4, 9000, 300, 40);
  const lines = [
    JSON.stringify({ type: 'file-history-snapshot', messageId: 'x', snapshot: {} }),
    u('u1', null, '2026-11-24T10:00:00.000Z', 'Delegate reading hello.txt'),
    a('a1', 'u1', '2026-11-24T10:00:02.000Z', 'msg_p1', [{ type: 'text', text: 'Delegating.' }], U(3, 20000, 500, 60), null),
    a('a2', 'a1', '2026-11-24T10:00:02.500Z', 'msg_p1', [{ type: 'tool_use', id: 'toolu_agent', name: 'Agent', input: { description: 'read', prompt, subagent_type: 'general-purpose' } }], U(3, 20000, 500, 60), 'tool_use'),
    JSON.stringify({ ...base, type: 'progress', uuid: 'p1', parentUuid: 'a2', timestamp: '2026-11-24T10:00:03.000Z', parentToolUseID: 'toolu_agent', toolUseID: 'agent_msg_p1',
      data: { type: 'agent_progress', agentId: 'sub1', prompt, message: { type: 'assistant', timestamp: '2026-11-24T10:00:04.000Z', uuid: 's2', message: { id: 'msg_s1', type: 'message', role: 'assistant', model: 'claude-haiku-test', content: [{ type: 'text', text: 'hello' }], stop_reason: 'end_turn', usage: subUsage } } } }),
    '{"type": "user", "broken',
    u('u2', 'a2', '2026-11-24T10:00:05.000Z', [{ type: 'tool_result', tool_use_id: 'toolu_agent', content: 'hello' }], { toolUseResult: { agentId: 'sub1' }, sourceToolAssistantUUID: 'a2' }),
    a('a3', 'u2', '2026-11-24T10:00:07.000Z', 'msg_p2', [{ type: 'text', text: 'It says hello.' }], U(5, 20500, 80, 20), 'end_turn'),
    '{"parentUuid":"a3","type":"user","message":{"role":"user","content":"trunc',
  ];
  writeFileSync(join(root, `${sid}.jsonl`), lines.join('\n'));
  const sub = [
    JSON.stringify({ ...base, type: 'user', uuid: 's1', parentUuid: null, timestamp: '2026-11-24T10:00:03.000Z', isSidechain: true, agentId: 'sub1', message: { role: 'user', content: prompt } }),
    JSON.stringify({ ...base, type: 'assistant', uuid: 's2', parentUuid: 's1', timestamp: '2026-11-24T10:00:04.000Z', isSidechain: true, agentId: 'sub1', message: { id: 'msg_s1', type: 'message', role: 'assistant', model: 'claude-haiku-test', content: [{ type: 'text', text: 'hello' }], stop_reason: 'end_turn', usage: subUsage } }),
  ];
  mkdirSync(join(root, sid, 'subagents'), { recursive: true });
  writeFileSync(join(root, sid, 'subagents', 'agent-sub1.jsonl'), sub.join('\n') + '\n');
  const total = U(3 + 5 + 4, 20000 + 20500 + 9000, 500 + 80 + 300, 60 + 20 + 40);
  return { path: root, good: 3, skipped: 2, usage: total };
}
