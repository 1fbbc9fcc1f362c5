import { afterEach, describe, expect, it, vi } from 'vitest';
import { gzipSync } from 'node:zlib';
import { Agent } from 'undici';
import { createCaptureHandler } from '../../src/capture/capture-handler.js';
import { createDbWriter } from '../../src/capture/request-writer.js';
import { memoryLogger } from '../../src/shared/logger.js';
import { parseSse } from '../../src/shared/sse.js';
import { rowToTraceRequest } from '../../src/store/sources/requests-row.js';
import type { ResponseLog, RecordedSseEvent } from '../../src/store/db-types.js';
import { errorReply, rawReply, textReply, toolUseReply } from '../helpers/fake-anthropic.js';
import { messagesBody, postJson, readAllBytes, startHarness, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('capture handler: recording', () => {
  it('streams a text reply through and records every column', async () => {
    h = await startHarness({ script: () => textReply('Hello there, this is a streamed answer.', { usage: { input_tokens: 120, cache_read_input_tokens: 900, cache_creation_input_tokens: 30 } }) });
    const bodyText = JSON.stringify(messagesBody(), null, 1); // odd formatting: must be stored byte-exact
    const res = await h.send('/v1/messages?beta=true', postJson(bodyText, { authorization: 'Bearer tok-123', 'anthropic-beta': 'x' }));
    expect(res.status).toBe(200);
    expect(res.headers.get('request-id')).toBe('req_fake_0');
    const text = new TextDecoder().decode(await readAllBytes(res));
    await h.handler.idle();

    const seen = h.fake.messages()[0]!;
    expect(seen.search).toBe('?beta=true');
    expect(seen.bodyText).toBe(bodyText);
    expect(seen.headers['x-api-key']).toBe('sk-ant-secret-123');

    const rows = h.rows();
    expect(rows).toHaveLength(1);
    const r = rows[0]!;
    expect(r.method).toBe('POST');
    expect(r.endpoint).toBe('/v1/messages');
    expect(r.body).toBe(bodyText);
    expect(r.model).toBe('claude-opus-4-8');
    expect(r.session_id).toBe('11111111-2222-3333-4444-555555555555');
    expect(r.is_streaming).toBe(1);
    expect(r.status).toBe(200);
    expect(r.state).toBe('complete');
    expect(r.error).toBeNull();
    expect(r.user_agent).toBe('claude-cli/2.1.197 (external, sdk-cli)');
    expect(r.content_type).toBe('application/json');
    expect(r.upstream_url).toBe(`${h.fake.url}/v1/messages?beta=true`);
    expect(r.seq).toBe(1);
    expect(r.request_bytes).toBe(Buffer.byteLength(bodyText));
    expect(r.response_bytes).toBe(Buffer.byteLength(text));
    expect(r.input_tokens).toBe(120);
    expect(r.cache_read_input_tokens).toBe(900);
    expect(r.cache_creation_input_tokens).toBe(30);
    expect(r.output_tokens).toBeGreaterThan(0);
    expect(r.stop_reason).toBe('end_turn');
    expect(r.message_id).toBe('msg_fake_0');
    expect(typeof r.ttft_ms).toBe('number');
    expect(r.ttft_ms!).toBeGreaterThanOrEqual(0);
    expect(r.duration_ms!).toBeGreaterThanOrEqual(r.ttft_ms!);
    expect(r.started_at_ms!).toBeGreaterThan(1.6e12);

    // secrets hashed, never stored in plain text
    const headers = JSON.parse(r.headers) as Record<string, string[]>;
    expect(headers['x-api-key']![0]).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(headers['authorization']![0]).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(headers['anthropic-beta']).toEqual(['x']);
    expect(JSON.stringify(r)).not.toContain('sk-ant-secret-123');
    expect(JSON.stringify(r)).not.toContain('tok-123');

    // response log (claude-code-proxy shape) + sse_events
    const log = JSON.parse(r.response!) as ResponseLog;
    expect(log.statusCode).toBe(200);
    expect(log.isStreaming).toBe(true);
    expect(log.headers['request-id']).toEqual(['req_fake_0']);
    expect(log.headers['anthropic-ratelimit-input-tokens-limit']).toEqual(['2000000']);
    const events = parseSse(text);
    // the stream is stored once (sse_events); the message is rebuilt from it on read
    expect(log.streamingChunks).toBeUndefined();
    expect(log.body).toBeUndefined();
    const read = rowToTraceRequest(r, 'capture');
    expect((read.response!.content[0] as { text: string }).text).toBe('Hello there, this is a streamed answer.');
    expect(typeof log.completedAt).toBe('string');
    const sse = JSON.parse(r.sse_events!) as RecordedSseEvent[];
    expect(sse.map((e) => e[1])).toEqual(events.map((e) => e.event));
    expect(sse.map((e) => e[2])).toEqual(events.map((e) => e.data));
    expect(sse.every((e, i) => i === 0 || e[0] >= sse[i - 1]![0])).toBe(true);
  });

  it('reassembles a tool_use reply with input from several partial_json pieces', async () => {
    const input = { file_path: '/tmp/some/where/hello.txt', limit: 20 };
    h = await startHarness({ script: () => toolUseReply('Read', input, { text: 'Let me read it.', pieceSize: 5 }) });
    const res = await h.send('/v1/messages', postJson(messagesBody()));
    const text = await res.text();
    expect(text.match(/input_json_delta/g)!.length).toBeGreaterThan(3);
    await h.handler.idle();
    const r = h.rows()[0]!;
    expect(r.stop_reason).toBe('tool_use');
    const msg = rowToTraceRequest(r, 'capture').response as unknown as { content: { type: string; input?: unknown; text?: string }[] };
    expect(msg.content[0]).toMatchObject({ type: 'text', text: 'Let me read it.' });
    expect(msg.content[1]).toMatchObject({ type: 'tool_use', name: 'Read', input });
  });

  it('records a non-streaming JSON reply (ttft = first byte, usage from the body)', async () => {
    h = await startHarness({ script: () => textReply('plain', { usage: { input_tokens: 7, output_tokens: 3 } }) });
    const res = await h.send('/v1/messages', postJson(messagesBody({ stream: false })));
    const body = (await res.json()) as { content: { text: string }[] };
    expect(body.content[0]!.text).toBe('plain');
    await h.handler.idle();
    const r = h.rows()[0]!;
    expect(r.is_streaming).toBe(0);
    expect(r.input_tokens).toBe(7);
    expect(r.output_tokens).toBe(3);
    expect(r.message_id).toBe('msg_fake_0');
    expect(r.ttft_ms).not.toBeNull();
    expect(r.sse_events).toBeNull();
    const log = JSON.parse(r.response!) as ResponseLog;
    expect(log.isStreaming).toBe(false);
    expect(log.streamingChunks).toBeUndefined();
    expect((log.body as { content: unknown[] }).content).toHaveLength(1);
  });

  it('forwards other endpoints and methods (count_tokens, models, unknown paths) and records them', async () => {
    h = await startHarness();
    const ct = await h.send('/v1/messages/count_tokens', postJson({ model: 'm', messages: [] }));
    expect(((await ct.json()) as { input_tokens: number }).input_tokens).toBeGreaterThan(0);
    const models = await h.send('/v1/models?limit=5', { method: 'GET', headers: { 'x-api-key': 'k' } });
    expect(((await models.json()) as { data: unknown[] }).data).toHaveLength(1);
    const nf = await h.send('/v1/nope', { method: 'DELETE' });
    expect(nf.status).toBe(404);
    await nf.text();
    await h.handler.idle();
    expect(h.fake.requests.map((r) => `${r.method} ${r.path}${r.search}`)).toEqual([
      'POST /v1/messages/count_tokens',
      'GET /v1/models?limit=5',
      'DELETE /v1/nope',
    ]);
    const rows = h.rows();
    expect(rows.map((r) => [r.method, r.endpoint, r.status, r.state])).toEqual([
      ['POST', '/v1/messages/count_tokens', 200, 'complete'],
      ['GET', '/v1/models', 200, 'complete'],
      ['DELETE', '/v1/nope', 404, 'complete'],
    ]);
    expect(rows[1]!.body).toBe('');
    expect(rows[2]!.error).toContain('not_found_error');
  });

  it('does not forward hop-by-hop headers, host, content-length or expect (curl sends expect: 100-continue)', async () => {
    h = await startHarness();
    const res = await h.send('/v1/messages', postJson(messagesBody(), { expect: '100-continue', 'keep-alive': 'timeout=5', te: 'trailers', 'x-kept': '1' }));
    expect(res.status).toBe(200);
    await res.text();
    await h.handler.idle();
    const seen = h.fake.messages()[0]!.headers;
    expect(seen['expect']).toBeUndefined();
    expect(seen['keep-alive']).toBeUndefined();
    expect(seen['te']).toBeUndefined();
    expect(seen['x-kept']).toBe('1');
    expect(seen['content-length']).toBe(String(Buffer.byteLength(JSON.stringify(messagesBody()))));
    // the recorded request headers are the client's, as received
    expect(JSON.parse(h.rows()[0]!.headers).expect).toEqual(['100-continue']);
  });

  it('answers GET /_trace/stats itself without forwarding or recording', async () => {
    h = await startHarness();
    await (await h.send('/v1/messages', postJson(messagesBody()))).text();
    await h.handler.idle();
    const s = (await (await h.send('/_trace/stats')).json()) as Record<string, number>;
    expect(s).toMatchObject({ requests: 1, complete: 1, inFlight: 0, dbWriteErrors: 0 });
    expect(h.fake.requests).toHaveLength(1);
    expect(h.rows()).toHaveLength(1);
  });

  it('writes a pending row while the upstream works, before the response exists (held at most PENDING_WRITE_HOLD_MS)', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    h = await startHarness({
      script: async () => {
        await gate;
        return textReply('late');
      },
    });
    const p = h.send('/v1/messages', postJson(messagesBody()));
    await h.fake.waitFor(() => h!.fake.messages().length === 1);
    await vi.waitFor(() => expect(h!.rows()).toHaveLength(1), { timeout: 20_000, interval: 10 });
    const pending = h.rows();
    expect(pending).toHaveLength(1);
    expect(pending[0]!.state).toBe('pending');
    expect(pending[0]!.status).toBeNull();
    expect(pending[0]!.model).toBe('claude-opus-4-8');
    release();
    await (await p).text();
    await h.handler.idle();
    expect(h.rows()[0]!.state).toBe('complete');
  });

  it('passes a gzip-encoded body through untouched and records a decoded copy', async () => {
    const json = JSON.stringify({ id: 'msg_gz', type: 'message', role: 'assistant', model: 'm', content: [{ type: 'text', text: 'zipped' }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 5, output_tokens: 2 } });
    const gz = gzipSync(Buffer.from(json));
    h = await startHarness({ script: () => rawReply([gz.subarray(0, 7), gz.subarray(7)], { headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } }) });
    const res = await h.send('/v1/messages', postJson(messagesBody({ stream: false }), { 'accept-encoding': 'gzip' }));
    expect(res.headers.get('content-encoding')).toBe('gzip');
    expect(Buffer.from(await readAllBytes(res)).equals(gz)).toBe(true);
    await h.handler.idle();
    expect(h.fake.messages()[0]!.headers['accept-encoding']).toBe('gzip');
    const r = h.rows()[0]!;
    expect(r.message_id).toBe('msg_gz');
    expect(r.input_tokens).toBe(5);
    expect(r.response_bytes).toBe(gz.length);
    expect(r.error).toBeNull();
  });
});

describe('capture handler: failure behaviour', () => {
  it('passes upstream 4xx/5xx through and records them', async () => {
    h = await startHarness({ script: (_b, i) => (i === 0 ? errorReply(429) : errorReply(529, 'overloaded_error', 'Overloaded')) });
    const a = await h.send('/v1/messages', postJson(messagesBody()));
    const b = await h.send('/v1/messages', postJson(messagesBody()));
    expect(a.status).toBe(429);
    expect(b.status).toBe(529);
    expect(((await b.json()) as { error: { type: string } }).error.type).toBe('overloaded_error');
    await a.text();
    await h.handler.idle();
    const rows = h.rows();
    expect(rows.map((r) => r.status)).toEqual([429, 529]);
    expect(rows[0]!.error).toContain('rate_limit_error');
    expect(rows[1]!.error).toBe('overloaded_error: Overloaded');
    expect(rows.every((r) => r.state === 'complete')).toBe(true);
  });

  it('upstream reset mid-stream: the client stream errors and the row keeps the error', async () => {
    h = await startHarness({ script: () => textReply('a long answer that will be cut in the middle', { resetAfterEvents: 4, pieceSize: 3 }) });
    const res = await h.send('/v1/messages', postJson(messagesBody()));
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
    await h.handler.idle();
    const r = h.rows()[0]!;
    expect(r.state).toBe('error');
    expect(r.error).toMatch(/upstream response broke/);
    expect(r.status).toBe(200);
    // what arrived before the break is kept
    expect(JSON.parse(r.sse_events!).length).toBe(4);
    expect(r.input_tokens).not.toBeNull();
    expect(h.handler.stats.errors).toBe(1);
  });

  it('client disconnect aborts the upstream request and stores the row as aborted', async () => {
    h = await startHarness({ script: () => textReply('x'.repeat(400), { pieceSize: 4, eventDelayMs: 20 }) });
    const res = await h.send('/v1/messages', postJson(messagesBody()));
    const reader = res.body!.getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    await h.fake.waitFor(() => h!.fake.aborts().length === 1);
    await h.handler.idle();
    expect(h.fake.messages()[0]!.aborted).toBe(true);
    expect(h.fake.messages()[0]!.completed).toBe(false);
    const r = h.rows()[0]!;
    expect(r.state).toBe('aborted');
    expect(r.error).toMatch(/client disconnected/);
    expect(h.handler.stats.aborted).toBe(1);
  });

  it('client disconnect while waiting for the upstream head aborts the upstream request', async () => {
    h = await startHarness({ script: () => textReply('slow', { delayMs: 5_000 }) });
    const ac = new AbortController();
    const p = h.send('/v1/messages', { ...postJson(messagesBody()), signal: ac.signal });
    await h.fake.waitFor(() => h!.fake.messages().length === 1);
    ac.abort();
    const res = await p;
    expect(res.status).toBe(499);
    await h.fake.waitFor(() => h!.fake.aborts().length === 1);
    await h.handler.idle();
    expect(h.rows()[0]!.state).toBe('aborted');
  });

  it('malformed request JSON is forwarded untouched and stored', async () => {
    h = await startHarness({ script: () => errorReply(400, 'invalid_request_error', 'bad json') });
    const bad = '{"model": "claude", "messages": [ {oops';
    const res = await h.send('/v1/messages', postJson(bad));
    expect(res.status).toBe(400);
    await res.text();
    await h.handler.idle();
    expect(h.fake.messages()[0]!.bodyText).toBe(bad);
    const r = h.rows()[0]!;
    expect(r.body).toBe(bad);
    expect(r.model).toBeNull();
    expect(r.is_streaming).toBeNull();
    expect(r.status).toBe(400);
  });

  it('a non-UTF-8 body is forwarded byte-exact and stored losslessly as latin1 text', async () => {
    h = await startHarness();
    const bytes = new Uint8Array([0x7b, 0xff, 0xfe, 0x00, 0x80, 0x7d]);
    const res = await h.send('/v1/messages', { method: 'POST', body: bytes });
    await res.text();
    await h.handler.idle();
    expect(Buffer.from(h.fake.messages()[0]!.rawBody).equals(Buffer.from(bytes))).toBe(true);
    expect(Buffer.from(h.rows()[0]!.body, 'latin1').equals(Buffer.from(bytes))).toBe(true);
  });

  it('a throwing writer never breaks forwarding: counted and reported once per kind', async () => {
    h = await startHarness({
      writer: () => ({
        write() {
          throw new Error('disk on fire');
        },
      }),
    });
    for (let i = 0; i < 3; i++) {
      const res = await h.send('/v1/messages', postJson(messagesBody()));
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('message_stop');
    }
    await h.handler.idle();
    expect(h.handler.stats.dbWriteErrors).toBe(6); // pending + complete, 3 times
    const errs = h.logger.lines.filter((l) => l.startsWith('error:'));
    expect(errs).toHaveLength(2); // one per kind (pending, complete)
    expect(errs[0]).toContain('disk on fire');
  });

  it('a closed database never breaks forwarding', async () => {
    h = await startHarness();
    h.db.close();
    const res = await h.send('/v1/messages', postJson(messagesBody()));
    expect(await res.text()).toContain('message_stop');
    await h.handler.idle();
    expect(h.handler.stats.dbWriteErrors).toBe(2);
    expect(h.logger.lines.some((l) => l.startsWith('error:') && /not open/i.test(l))).toBe(true);
  });

  it('an unreachable upstream gives a 502 with the API error shape and an error row', async () => {
    h = await startHarness();
    const dispatcher = new Agent();
    const handler = createCaptureHandler({ upstream: 'http://127.0.0.1:1', writer: createDbWriter(h.db), dispatcher, logger: memoryLogger() });
    const res = await handler(new Request('http://p/v1/messages', postJson(messagesBody())));
    expect(res.status).toBe(502);
    expect(((await res.json()) as { type: string }).type).toBe('error');
    await handler.idle();
    const r = h.rows()[0]!;
    expect(r.state).toBe('error');
    expect(r.status).toBe(502);
    expect(r.error).toMatch(/upstream request failed/);
    await dispatcher.close();
  });
});
