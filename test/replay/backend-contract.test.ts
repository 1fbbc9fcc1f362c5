import { describe, expect, it } from 'vitest';
import { REPLAY_BACKENDS, sendRequest, type FetchLike, type ReplayBackend } from '../../src/replay/backends/index.js';
import { createFakeAnthropic, errorReply, textReply } from '../helpers/fake-anthropic.js';
import { createFakeOpenAI } from './fake-openai.js';
import { handlerFetch } from './helpers.js';
import { systemClock } from '../../src/shared/clock.js';
import type { MessagesRequest } from '../../src/shared/anthropic.js';

/** What a test asks a fake server for, in API-neutral terms. */
type Spec =
  | { kind: 'text'; text: string; prompt: number; cached: number; output: number; pieceSize: number; resetAfterEvents?: number }
  | { kind: 'error'; status: number };

interface Harness {
  fetch: FetchLike;
  seen(): { path: string; headers: Record<string, string>; body: any }[];
}


/** One fake server per API, each speaking that API's SSE exactly. */
const FAKES: Record<string, (spec: Spec) => Harness> = {
  anthropic(spec) {
    const fake = createFakeAnthropic({
      script: () =>
        spec.kind === 'error'
          ? errorReply(spec.status)
          : textReply(spec.text, {
              pieceSize: spec.pieceSize,
              resetAfterEvents: spec.resetAfterEvents,
              usage: { input_tokens: spec.prompt - spec.cached, cache_read_input_tokens: spec.cached, cache_creation_input_tokens: 0, output_tokens: spec.output },
            }),
    });
    return { fetch: handlerFetch(fake.handler), seen: () => fake.messages().map((s) => ({ path: s.path, headers: s.headers, body: s.body })) };
  },
  openai(spec) {
    const fake = createFakeOpenAI(() =>
      spec.kind === 'error'
        ? { type: 'error', status: spec.status }
        : { type: 'text', text: spec.text, pieceSize: spec.pieceSize, resetAfterEvents: spec.resetAfterEvents, usage: { prompt_tokens: spec.prompt, completion_tokens: spec.output, cached_tokens: spec.cached } },
    );
    return { fetch: handlerFetch(fake.handler), seen: () => fake.requests };
  },
};

const body: MessagesRequest = {
  model: 'recorded-model',
  max_tokens: 32,
  system: [{ type: 'text', text: 'You are terse.' }],
  messages: [{ role: 'user', content: 'Say hello.' }],
};

describe.each(Object.entries(REPLAY_BACKENDS))('replay backend contract: %s', (name: string, backend: ReplayBackend) => {
  const fakeFor = FAKES[name];
  it('has a fake server for this API', () => {
    expect(fakeFor, `add a fake ${name} server to FAKES`).toBeTypeOf('function');
  });

  it('streams: TTFT, one ITL per later content chunk, server usage and text', async () => {
    const text = 'Hello there, this is a streamed answer.';
    const h = fakeFor!({ kind: 'text', text, prompt: 120, cached: 96, output: 9, pieceSize: 5 });
    const r = await sendRequest(backend, { ...body, model: 'm1' }, { endpoint: 'http://fake.local', apiKey: 'k', fetch: h.fetch, clock: systemClock });
    expect(r.error).toBeNull();
    expect(r.ok).toBe(true);
    expect(r.status).toBe(200);
    expect(r.outputText).toBe(text);
    expect(r.ttftMs).not.toBeNull();
    expect(r.ttftMs!).toBeGreaterThanOrEqual(0);
    expect(r.itlMs).toHaveLength(Math.ceil(text.length / 5) - 1);
    expect(r.e2eMs!).toBeGreaterThanOrEqual(r.ttftMs!);
    expect(r.promptTokens).toBe(120);
    expect(r.cachedTokens).toBe(96);
    expect(r.outputTokens).toBe(9);
    const seen = h.seen();
    expect(seen).toHaveLength(1);
    expect(seen[0]!.path).toBe(backend.path);
    expect(seen[0]!.body.model).toBe('m1');
    expect(seen[0]!.body.stream).toBe(true);
  });

  it('accepts an endpoint that already ends in /v1', async () => {
    const h = fakeFor!({ kind: 'text', text: 'ok', prompt: 5, cached: 0, output: 1, pieceSize: 8 });
    const r = await sendRequest(backend, body, { endpoint: 'http://fake.local/v1/', apiKey: 'k', fetch: h.fetch, clock: systemClock });
    expect(r.ok).toBe(true);
    expect(h.seen()[0]!.path).toBe(backend.path);
  });

  it('an HTTP error is data, not a throw', async () => {
    const h = fakeFor!({ kind: 'error', status: 429 });
    const r = await sendRequest(backend, body, { endpoint: 'http://fake.local', apiKey: 'k', fetch: h.fetch, clock: systemClock });
    expect(r.ok).toBe(false);
    expect(r.status).toBe(429);
    expect(r.error).toMatch(/429/);
  });

  it('a stream cut mid-way is a failed request with the partial timings', async () => {
    const h = fakeFor!({ kind: 'text', text: 'a fairly long answer that will be cut', prompt: 10, cached: 0, output: 9, pieceSize: 4, resetAfterEvents: 4 });
    const r = await sendRequest(backend, body, { endpoint: 'http://fake.local', apiKey: 'k', fetch: h.fetch, clock: systemClock });
    expect(r.ok).toBe(false);
    expect(r.error).toBeTruthy();
  });

  it('a refused connection is a failed request with no status', async () => {
    const fetch: FetchLike = async () => {
      throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:1') });
    };
    const r = await sendRequest(backend, body, { endpoint: 'http://127.0.0.1:1', apiKey: 'k', fetch, clock: systemClock });
    expect(r).toMatchObject({ ok: false, status: null });
    expect(r.error).toMatch(/ECONNREFUSED/);
  });
});
