/**
 * A claude-trace log written here in that tool's documented RawPair format (badlogic/lemmy apps/claude-trace:
 * request.timestamp in epoch seconds, redacted headers, the parsed request body; response.body_raw = the raw SSE
 * text; logged_at ISO) imports to the same records as capturing the same exchange through `trace capture`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { messagesBody, postJson, startHarness, type Harness } from '../capture/harness.js';
import { textReply, toolUseReply } from '../helpers/fake-anthropic.js';
import { openSource, probe, findImporter } from '../../src/store/sources/index.js';
import { memoryLogger, silentLogger } from '../../src/shared/logger.js';
import type { TraceRequest } from '../../src/shared/trace-record.js';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

/** What must match between the two recorders (timing and ids differ by construction). */
const comparable = (r: TraceRequest) => ({
  method: r.method,
  endpoint: r.endpoint,
  model: r.model,
  isStreaming: r.isStreaming,
  status: r.status,
  userAgent: r.userAgent,
  sessionId: r.sessionId,
  body: r.body,
  response: r.response,
  usage: r.usage,
  stopReason: r.stopReason,
  messageId: r.messageId,
  error: r.error,
});

describe('claude-trace logs', () => {
  it('import to the same records as trace capture of the same exchanges (streaming and not)', async () => {
    h = await startHarness({ script: (_b, i) => (i === 0 ? toolUseReply('Read', { file_path: '/tmp/x' }, { usage: { input_tokens: 12, cache_read_input_tokens: 2048, cache_creation_input_tokens: 300 } }) : textReply('Hello there, all done.', { usage: { input_tokens: 7, cache_read_input_tokens: 2348 } })) });
    const bodies = [messagesBody(), messagesBody({ stream: false, messages: [{ role: 'user', content: 'again' }] })];
    const lines: string[] = [];
    for (const body of bodies) {
      const sent = Date.now();
      const res = await h.send('/v1/messages', postJson(body));
      const headers = Object.fromEntries(res.headers.entries());
      const isSse = (headers['content-type'] ?? '').includes('text/event-stream');
      const text = await res.text();
      lines.push(
        JSON.stringify({
          request: { timestamp: sent / 1000, method: 'POST', url: 'https://api.anthropic.com/v1/messages', headers: { 'content-type': 'application/json', 'x-api-key': 'sk-ant-sec...-123', 'user-agent': 'claude-cli/2.1.197 (external, sdk-cli)' }, body },
          response: { timestamp: Date.now() / 1000, status_code: res.status, headers, ...(isSse ? { body_raw: text } : { body: JSON.parse(text) }) },
          logged_at: new Date().toISOString(),
        }),
      );
    }
    lines.push(JSON.stringify({ request: { timestamp: Date.now() / 1000, method: 'POST', url: 'https://api.anthropic.com/v1/messages', headers: {}, body: messagesBody() }, response: null, note: 'ORPHANED_REQUEST - No matching response received', logged_at: new Date().toISOString() }));
    lines.push('{"request": {"url": 3}');
    await h.handler.idle();
    const log = join(h.dir, 'log-2026-12-07-17-00-00.jsonl');
    writeFileSync(log, lines.join('\n') + '\n');

    expect(findImporter('claude-trace').detect(probe(log))).toBe(true);
    const logger = memoryLogger();
    const imported = openSource(log, { logger });
    expect(imported.kind).toBe('claude-trace');
    const fromLog = [...imported.requests()];
    expect(imported.stats.skipped).toBe(1);
    expect(logger.lines.filter((l) => l.startsWith('warn:'))).toHaveLength(1);
    h.db.close();
    const captured = [...openSource(h.dbPath, { logger: silentLogger }).requests()];
    expect(captured).toHaveLength(2);
    expect(fromLog.slice(0, 2).map(comparable)).toEqual(captured.map(comparable));
    expect(fromLog[0]!.usage).toMatchObject({ input_tokens: 12, cache_read_input_tokens: 2048, cache_creation_input_tokens: 300 });
    expect(fromLog[0]!.response!.content.some((b) => b.type === 'tool_use')).toBe(true);
    expect(fromLog[0]!.durationMs).toBeGreaterThanOrEqual(0);
    // The orphaned request is kept as a request with an error, not dropped.
    expect(fromLog[2]!.response).toBeNull();
    expect(fromLog[2]!.error).toMatch(/ORPHANED/);
  });
});
