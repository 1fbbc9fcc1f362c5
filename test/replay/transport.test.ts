import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { undiciTransport } from '../../src/replay/transport.js';
import { sendRequest } from '../../src/replay/backends/backend.js';
import { anthropicBackend } from '../../src/replay/backends/anthropic.js';
import { systemClock } from '../../src/shared/clock.js';

const ev = (e: string, d: unknown) => `event: ${e}\ndata: ${JSON.stringify(d)}\n\n`;
const START = ev('message_start', {
  type: 'message_start',
  message: { id: 'm', type: 'message', role: 'assistant', model: 'x', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 7, cache_read_input_tokens: 3, cache_creation_input_tokens: 0, output_tokens: 1 } },
});
const BLOCK = ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
const delta = (t: string) => ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } });
const END =
  ev('content_block_stop', { type: 'content_block_stop', index: 0 }) +
  ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 3 } }) +
  ev('message_stop', { type: 'message_stop' });

/** Real socket: the transport is the one piece that cannot be tested through an in-process handler. */
let server: Server;
let url = '';
let agent: Agent;
beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/fail/v1/messages') {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end('{"type":"error","error":{"type":"overloaded_error","message":"busy"}}');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // Split mid-line and mid-event, with pauses, so the body arrives as several chunks (some after headers).
      const full = START + BLOCK + delta('Hello') + delta(' wor') + delta('ld') + END;
      const cut = [0, 17, START.length + 5, START.length + BLOCK.length + 30, full.length - 40, full.length];
      let i = 0;
      const hang = req.url === '/hang/v1/messages';
      const step = () => {
        if (i + 1 >= cut.length) {
          if (!hang) res.end();
          return;
        }
        res.write(full.slice(cut[i], cut[i + 1]));
        i++;
        setTimeout(step, 5);
      };
      step();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  agent = new Agent({ connections: 4 });
});
afterAll(async () => {
  await agent.destroy();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const body = { model: 'x', max_tokens: 5, messages: [{ role: 'user' as const, content: 'hi' }] };

describe('undiciTransport (dispatch, push-style body)', () => {
  it('streams a chunked SSE response through sendRequest: text, usage, TTFT and ITL', async () => {
    const fetch = undiciTransport(agent);
    const r = await sendRequest(anthropicBackend, body, { endpoint: url, apiKey: 'k', fetch, clock: systemClock });
    expect(r.error).toBeNull();
    expect(r.ok).toBe(true);
    expect(r.status).toBe(200);
    expect(r.outputText).toBe('Hello world');
    expect(r.promptTokens).toBe(10);
    expect(r.cachedTokens).toBe(3);
    expect(r.outputTokens).toBe(3);
    expect(r.stopReason).toBe('end_turn');
    expect(r.ttftMs).toBeGreaterThan(0);
    expect(r.itlMs).toHaveLength(2);
    expect(r.e2eMs!).toBeGreaterThanOrEqual(r.ttftMs!);
  });

  it('exposes headers and buffers chunks that arrive before the consumer subscribes', async () => {
    const fetch = undiciTransport(agent);
    const res = await fetch(url + '/v1/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.headers.get('Content-Type')).toBe('text/event-stream');
    await new Promise((r) => setTimeout(r, 40)); // let (most of) the body arrive first
    expect(await res.text()).toBe(START + BLOCK + delta('Hello') + delta(' wor') + delta('ld') + END);
    await expect(res.text()).rejects.toThrow(/already consumed/);
  });

  it('reports HTTP errors with their body as data', async () => {
    const r = await sendRequest(anthropicBackend, body, { endpoint: url + '/fail', apiKey: 'k', fetch: undiciTransport(agent), clock: systemClock });
    expect(r.ok).toBe(false);
    expect(r.status).toBe(500);
    expect(r.error).toContain('HTTP 500');
    expect(r.error).toContain('overloaded_error');
  });

  it('aborts a stream in flight and rejects an already-aborted request', async () => {
    const ac = new AbortController();
    const p = sendRequest(anthropicBackend, body, {
      endpoint: url + '/hang', apiKey: 'k', fetch: undiciTransport(agent), clock: systemClock, signal: ac.signal,
      onFirstToken: () => ac.abort(new Error('stop')),
    });
    const r = await p;
    expect(r.ok).toBe(false);
    expect(r.error).toBe('aborted');
    expect(r.ttftMs).not.toBeNull();
    const pre = new AbortController();
    pre.abort(new Error('early'));
    await expect(undiciTransport(agent)(url + '/v1/messages', { method: 'POST', headers: {}, body: '{}', signal: pre.signal })).rejects.toThrow('early');
  });

  it('turns a refused connection into a failed record, not a throw', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const r = await sendRequest(anthropicBackend, body, { endpoint: `http://127.0.0.1:${port}`, apiKey: 'k', fetch: undiciTransport(agent), clock: systemClock });
    expect(r.ok).toBe(false);
    expect(r.status).toBeNull();
    expect(r.error).toMatch(/ECONNREFUSED|connect/i);
  });
});
