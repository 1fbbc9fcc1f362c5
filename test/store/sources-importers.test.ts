import { afterAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { memoryLogger, silentLogger } from '../../src/shared/logger.js';
import { openSource } from '../../src/store/sources/index.js';
import { assembleSseChunks, parseResponseBody } from '../../src/store/sources/response-parse.js';
import { makeAnyclaudeDir, makeCcProxyDb, makeJsonlDir, makeTraceDb, message, sseEvents, sseText, tmp, U } from './sources-fixtures.js';

const dir = tmp('sources-importers');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

describe('response parsing', () => {
  const m = message('msg_x', [{ type: 'text', text: 'Hello there, world' }, { type: 'tool_use', id: 'tu', name: 'Read', input: { file_path: '/a/b' } }], U(10, 200, 30, 44), 'tool_use');
  it('reassembles bare data payloads, data: lines and full event/data framing identically', () => {
    const bare = assembleSseChunks(sseEvents(m).map(([, d]) => d));
    const lines = assembleSseChunks(sseEvents(m).map(([e, d]) => `event: ${e}\ndata: ${d}`));
    const text = parseResponseBody(sseText(m));
    for (const p of [bare, lines, text]) {
      expect(p.message?.content).toEqual(m.content);
      expect(p.usage).toEqual(m.usage);
      expect(p.message?.stop_reason).toBe('tool_use');
    }
  });
  it('reads API error bodies as errors', () => {
    expect(parseResponseBody({ type: 'error', error: { type: 'overloaded_error', message: 'busy' } }).error).toBe('overloaded_error: busy');
  });
});

describe('cc-proxy-db', () => {
  it('recovers usage from streamingChunks / body / bodyText and never modifies the database', () => {
    const f = makeCcProxyDb(dir);
    const before = sha(f.path);
    const src = openSource(f.path, { logger: silentLogger });
    const rs = [...src.requests()];
    src.close();
    expect(Object.fromEntries(rs.map((r) => [r.id, r.usage]))).toEqual(f.usage);
    const r1 = rs.find((r) => r.id === 'r1')!;
    expect(r1.isStreaming).toBe(true);
    expect(r1.response?.content[1]).toMatchObject({ type: 'tool_use', name: 'Read', input: { file_path: '/tmp/probe-cc/work-tool/hello.txt' } });
    expect(r1.durationMs).toBe(1500);
    expect(r1.sessionId).toMatch(/^[0-9a-f-]{36}$|^s-/);
    expect(sha(f.path)).toBe(before);
    expect(existsSync(f.path + '-wal')).toBe(false);
    const db = new Database(f.path, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(0);
    expect((db.prepare('PRAGMA table_info(requests)').all() as { name: string }[]).some((c) => c.name === 'started_at_ms')).toBe(false);
    db.close();
  });
});

describe('trace-db', () => {
  it('prefers our columns and reassembles the recorded SSE events', () => {
    const f = makeTraceDb(dir);
    const src = openSource(f.path, { logger: memoryLogger() });
    const [a1, a2] = [...src.requests()];
    src.close();
    expect(a1!.usage).toEqual(U(3, 0, 20000, 50));
    expect(a1!.ttftMs).toBe(400);
    expect(a1!.endedAtMs! - a1!.startedAtMs!).toBe(1500);
    expect(a1!.response?.content.map((b) => b.type)).toEqual(['text', 'tool_use']);
    expect(a2!.usage).toEqual(U(5, 20000, 120, 30));
    expect(a2!.messageId).toBe('msg_tool_result');
  });
});

describe('anyclaude', () => {
  it('reads raw SSE and object response bodies', () => {
    const f = makeAnyclaudeDir(dir);
    const src = openSource(f.path, { logger: silentLogger });
    const [x, y] = [...src.requests()];
    src.close();
    expect(x!.usage).toEqual(U(3, 0, 20000, 50));
    expect(x!.response?.content[1]).toMatchObject({ type: 'tool_use', input: { file_path: '/tmp/probe-cc/work-tool/hello.txt' } });
    expect(x!.startedAtMs).toBe(Date.parse('2026-11-24T10:00:00.000Z'));
    expect(y!.usage).toEqual(U(5, 20000, 120, 30));
  });
});

describe('claude-jsonl', () => {
  it('merges entries sharing message.id, counts echoed sub-agent calls once, rebuilds messages, survives a truncated file', () => {
    const f = makeJsonlDir(dir);
    const logger = memoryLogger();
    const src = openSource(f.path, { logger });
    const rs = [...src.requests()];
    src.close();
    expect(rs.map((r) => r.messageId)).toEqual(['msg_p1', 'msg_s1', 'msg_p2']);
    expect(src.stats.skipped).toBe(2);
    const [p1, s1, p2] = rs as [typeof rs[0], typeof rs[0], typeof rs[0]];
    expect(p1.response?.content.map((b) => b.type)).toEqual(['text', 'tool_use']);
    expect(p1.bodyComplete).toBe(false);
    expect(s1.id.startsWith('agent-sub1.jsonl:')).toBe(true);
    expect(s1.hints).toMatchObject({ agentId: 'sub1', parentAgentId: p1.hints?.agentId, isSidechain: true, spawnedByToolUseId: 'toolu_agent' });
    expect(p2.body?.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect((p2.body?.messages[1]!.content as unknown[]).length).toBe(2);
    expect(p2.startedAtMs).toBe(Date.parse('2026-11-24T10:00:05.000Z'));
    expect(p2.endedAtMs).toBe(Date.parse('2026-11-24T10:00:07.000Z'));
    const sum = rs.reduce((a, r) => U(a.input_tokens + r.usage!.input_tokens, a.cache_read_input_tokens + r.usage!.cache_read_input_tokens, a.cache_creation_input_tokens + r.usage!.cache_creation_input_tokens, a.output_tokens + r.usage!.output_tokens), U(0, 0, 0, 0));
    expect(sum).toEqual(f.usage);
  });

  it('falls back to the progress echoes when a sub-agent file is missing', () => {
    const f = makeJsonlDir(tmp('jsonl-echo'));
    rmSync(join(f.path, '11111111-2222-3333-4444-555555555555'), { recursive: true });
    const src = openSource(f.path, { logger: silentLogger });
    const rs = [...src.requests()];
    expect(rs.map((r) => r.messageId)).toEqual(['msg_p1', 'msg_s1', 'msg_p2']);
    expect(rs[1]!.hints?.agentId).toBe('sub1');
    rmSync(join(f.path, '..'), { recursive: true, force: true });
  });
});
