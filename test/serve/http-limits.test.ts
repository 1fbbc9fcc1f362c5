/**
 * Request limits and field checks of `trace serve` (issue 15 item 7): body size → 413, wrong-typed / empty
 * `messages`, out-of-range sampling numbers and over-long prompts → 400 naming the field and the numbers, each in
 * the Anthropic and the OpenAI error shape.
 */
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createServeHandler } from '../../src/serve/http/server.js';
import { listen } from '../../src/serve/listen.js';
import { FakeEngine } from './http-fake-engine.js';

const BASE = 'http://serve.test';
const post = (h: (r: Request) => Promise<Response>, path: string, body: unknown) =>
  h(new Request(BASE + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) }));

type AnthropicErr = { type: string; error: { type: string; message: string } };
type OpenAiErr = { error: { message: string; type: string; param: string | null; code: string | null } };

async function anthropicError(r: Response, status: number): Promise<AnthropicErr['error']> {
  expect(r.status).toBe(status);
  const j = (await r.json()) as AnthropicErr;
  expect(j.type).toBe('error');
  return j.error;
}
async function openAiError(r: Response, status: number): Promise<OpenAiErr['error']> {
  expect(r.status).toBe(status);
  const j = (await r.json()) as OpenAiErr;
  expect(Object.keys(j.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  return j.error;
}

const A = (extra: Record<string, unknown>) => ({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'q' }], ...extra });
const O = (extra: Record<string, unknown>) => ({ model: 'm', messages: [{ role: 'user', content: 'q' }], ...extra });

describe('field checks → 400 naming the field', () => {
  const h = createServeHandler({ engine: new FakeEngine() });
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['messages string', { messages: 'hi' }, /^messages: must be a list of messages, got a string$/],
    ['messages empty', { messages: [] }, /^messages: must contain at least one message$/],
    ['temperature -3', { temperature: -3 }, /^temperature: must be between 0 and (1|2), got -3$/],
    ['temperature string', { temperature: 'hot' }, /^temperature: must be a number between 0 and (1|2), got a string$/],
    ['top_p 1.5', { top_p: 1.5 }, /^top_p: must be between 0 and 1, got 1.5$/],
    ['max_tokens 0', { max_tokens: 0 }, /^max_tokens: must be an integer ≥ 1, got 0$/],
    ['max_tokens -2', { max_tokens: -2 }, /^max_tokens: must be an integer ≥ 1, got -2$/],
    ['max_tokens 1.5', { max_tokens: 1.5 }, /^max_tokens: must be an integer ≥ 1, got 1.5$/],
  ];
  for (const [name, extra, msg] of cases) {
    it(`${name} (Anthropic)`, async () => {
      const e = await anthropicError(await post(h, '/v1/messages', A(extra)), 400);
      expect(e.type).toBe('invalid_request_error');
      expect(e.message).toMatch(msg);
    });
    it(`${name} (OpenAI)`, async () => {
      const e = await openAiError(await post(h, '/v1/chat/completions', O(extra)), 400);
      expect(e.type).toBe('invalid_request_error');
      expect(e.message).toMatch(msg);
      expect(e.param).toBe(Object.keys(extra)[0]);
    });
  }

  it('ranges differ by API: temperature 1.5 is fine for OpenAI (0–2), not for Anthropic (0–1)', async () => {
    expect((await post(h, '/v1/chat/completions', O({ temperature: 1.5 }))).status).toBe(200);
    expect((await anthropicError(await post(h, '/v1/messages', A({ temperature: 1.5 })), 400)).message).toBe('temperature: must be between 0 and 1, got 1.5');
    expect((await openAiError(await post(h, '/v1/chat/completions', O({ frequency_penalty: 3 })), 400)).message).toBe('frequency_penalty: must be between -2 and 2, got 3');
    expect((await anthropicError(await post(h, '/v1/messages', A({ top_k: -1 })), 400)).message).toBe('top_k: must be an integer ≥ 0, got -1');
  });

  it('a missing max_tokens is still "field required" for Anthropic', async () => {
    const e = await anthropicError(await post(h, '/v1/messages', { model: 'm', messages: [{ role: 'user', content: 'q' }] }), 400);
    expect(e.message).toBe('max_tokens: field required');
  });
});

describe('over-long prompt → 400 naming both numbers', () => {
  // FakeEngine tokenises one token per character of the chatml prompt; context 1000 tokens.
  const h = createServeHandler({ engine: new FakeEngine({ contextSize: 1000 }) });
  // '<|im_start|>user\n' (17) + 2000 + '<|im_end|>\n' (11) + '<|im_start|>assistant\n' (22) = 2050 tokens
  const content = 'x'.repeat(2000);
  it('Anthropic', async () => {
    const e = await anthropicError(await post(h, '/v1/messages', A({ messages: [{ role: 'user', content }] })), 400);
    expect(e.message).toMatch(/^prompt is too long: 2050 tokens > 999 maximum \(the server's context is 1000 tokens/);
  });
  it('OpenAI', async () => {
    const e = await openAiError(await post(h, '/v1/chat/completions', O({ messages: [{ role: 'user', content }] })), 400);
    expect(e.message).toMatch(/^prompt is too long: 2050 tokens > 999 maximum/);
    expect(e.param).toBe('messages');
  });
});

describe('request body size limit → 413', () => {
  it('refuses a declared Content-Length over the limit without reading it (both shapes)', async () => {
    const h = createServeHandler({ engine: new FakeEngine(), maxBodyBytes: 1000 });
    const big = JSON.stringify(A({ messages: [{ role: 'user', content: 'y'.repeat(5000) }] }));
    const withLength = (path: string) => h(new Request(BASE + path, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(big)) }, body: big }));
    const a = await anthropicError(await withLength('/v1/messages'), 413);
    expect(a).toEqual({ type: 'request_too_large', message: `request body is ${Buffer.byteLength(big)} bytes; the limit is 1000 bytes (--max-body-bytes)` });
    const o = await openAiError(await withLength('/v1/chat/completions'), 413);
    // without a declared length the streamed read stops at the limit
    expect((await anthropicError(await post(h, '/v1/messages', big), 413)).message).toBe('request body is more than 1000 bytes; the limit is 1000 bytes (--max-body-bytes)');
    expect(o).toMatchObject({ type: 'invalid_request_error', code: 'request_too_large' });
    // just under the limit is served
    expect((await post(h, '/v1/messages', A({ messages: [{ role: 'user', content: 'y'.repeat(800) }] }))).status).toBe(200);
  });

  it('stops reading a chunked body (no Content-Length) once it passes the limit, over a real socket', async () => {
    const h = createServeHandler({ engine: new FakeEngine(), maxBodyBytes: 64 * 1024 });
    const server = await listen(h);
    try {
      const url = new URL(server.url + '/v1/messages');
      let sent = 0;
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (r) => {
          let body = '';
          r.on('data', (d: Buffer) => (body += d.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
        });
        req.on('error', (e) => (sent > 64 * 1024 ? undefined : reject(e)));
        req.write('{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"');
        // 16 MiB in 64 KiB chunks, written only while the server keeps reading
        const chunk = 'z'.repeat(64 * 1024);
        const pump = () => {
          while (sent < 16 * 2 ** 20) {
            sent += chunk.length;
            if (!req.write(chunk)) return void req.once('drain', pump);
          }
          req.end('"}]}');
        };
        pump();
      });
      expect(res.status).toBe(413);
      expect((JSON.parse(res.body) as AnthropicErr).error).toEqual({ type: 'request_too_large', message: 'request body is more than 65536 bytes; the limit is 65536 bytes (--max-body-bytes)' });
    } finally {
      await server.close();
    }
  });
});
