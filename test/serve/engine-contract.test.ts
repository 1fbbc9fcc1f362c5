/**
 * The engine contract: every registered engine (llama on a tiny random GGUF in-process; mlx through its real
 * stdio worker against a Python test double of mlx_lm) passes the same suite.
 * Exact cache expectation for both engines: a prompt reuses the longest common prefix with what a cache
 * entry holds (earlier prompt + the output tokens that were fed back), capped at promptTokens - 1 (the last
 * prompt token is always evaluated to sample the first output token).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINE_NAMES } from '../../src/serve/engines/index.js';
import type { Engine } from '../../src/serve/engine.js';
import { ENGINE_SPECS, collect, lcp } from './engine-helpers.js';

it('every registered engine is covered by the contract suite', () => {
  expect(ENGINE_SPECS.map((s) => s.name).sort()).toEqual([...ENGINE_NAMES].sort());
});

for (const spec of ENGINE_SPECS) {
  describe(`engine contract: ${spec.name}`, () => {
    let engine: Engine;
    let prefix: number[];
    beforeAll(async () => {
      engine = await spec.make(1 << 30);
      prefix = await engine.tokenize('<|im_start|>system\n' + 'You are a careful assistant. '.repeat(10) + '<|im_end|>\n<|im_start|>user\n');
    });
    afterAll(async () => {
      await engine?.close();
    });

    it('describes itself', () => {
      expect(engine.info.engine).toBe(spec.name);
      expect(engine.info.kvBytesPerToken).toBeGreaterThan(0);
      expect(engine.info.contextSize).toBeGreaterThanOrEqual(2048);
      expect(engine.info.stopTokens.length).toBeGreaterThan(0);
      expect(engine.info.chatTemplate).toBe('chatml');
    });

    it('tokenize/detokenize round-trips text, UTF-8 and special tokens', async () => {
      const text = '<|im_start|>user\nHéllo, wörld — 🎉 tabs\tand\nnewlines<|im_end|>\n';
      const ids = await engine.tokenize(text);
      expect(ids[0]).toBe((await engine.tokenize('<|im_start|>'))[0]);
      expect((await engine.tokenize('<|im_start|>')).length).toBe(1);
      expect(await engine.detokenize(ids)).toBe(text);
    });

    it('streams prefill, then tokens, then done; counts agree; max_tokens respected', async () => {
      const r = await collect(engine, { promptTokens: [...prefix, ...(await engine.tokenize('stream please'))], maxTokens: 6 });
      expect(r.events[0]!.type).toBe('prefill');
      expect(r.events.slice(1, -1).every((e) => e.type === 'token')).toBe(true);
      expect(r.tokens.length).toBe(r.done.outputTokens);
      expect(r.done.outputTokens).toBeLessThanOrEqual(6);
      if (r.done.stopReason === 'length') expect(r.done.outputTokens).toBe(6);
      else expect(r.done.stopReason).toBe('stop');
      expect(r.done.promptTokens).toBe(prefix.length + 13);
      expect(r.done.cachedTokens).toBe(r.prefill!.cachedTokens);
      expect(await engine.detokenize(r.tokens)).toBe(r.text);
    });

    it('a prompt extending an earlier one reuses exactly the common prefix; a repeat reuses all but the last token', async () => {
      const a = [...prefix, ...(await engine.tokenize('first question about caches'))];
      const ra = await collect(engine, { promptTokens: a, maxTokens: 4 });
      const b = [...a, ...(await engine.tokenize(' and a follow-up that appends'))];
      const rb = await collect(engine, { promptTokens: b, maxTokens: 4 });
      const held = [...a, ...ra.tokens];
      expect(rb.done.cachedTokens).toBe(Math.min(lcp(b, held), b.length - 1));
      expect(rb.done.cachedTokens).toBeGreaterThanOrEqual(a.length);
      const rb2 = await collect(engine, { promptTokens: b, maxTokens: 4 });
      expect(rb2.done.cachedTokens).toBe(b.length - 1);
      // greedy decoding from reused KV state gives the same tokens as from the same state evaluated earlier
      expect(rb2.tokens).toEqual(rb.tokens);
      const s = engine.cacheStats();
      expect(s.hits).toBeGreaterThanOrEqual(2);
      expect(s.cachedTokens).toBeGreaterThanOrEqual(rb.done.cachedTokens + rb2.done.cachedTokens);
      expect(s.bytes).toBeGreaterThan(0);
      expect(s.bytes).toBe(s.bytes - (s.bytes % engine.info.kvBytesPerToken));
    });

    it('two interleaved conversations each keep their own cached prefix', async () => {
      const a = [...(await engine.tokenize('conversation one: ' + 'x'.repeat(60)))];
      const b = [...(await engine.tokenize('conversation two: ' + 'y'.repeat(60)))];
      await collect(engine, { promptTokens: a, maxTokens: 2 });
      await collect(engine, { promptTokens: b, maxTokens: 2 });
      const a2 = await collect(engine, { promptTokens: [...a, ...(await engine.tokenize(' more a'))], maxTokens: 2 });
      const b2 = await collect(engine, { promptTokens: [...b, ...(await engine.tokenize(' more b'))], maxTokens: 2 });
      expect(a2.done.cachedTokens).toBeGreaterThanOrEqual(a.length);
      expect(b2.done.cachedTokens).toBeGreaterThanOrEqual(b.length);
    });

    it('output from a warm cache equals output from a cold prefill (greedy)', async () => {
      const p = [...prefix, ...(await engine.tokenize('compare warm and cold'))];
      const warmup = await collect(engine, { promptTokens: p.slice(0, -5), maxTokens: 2 });
      expect(warmup.done.outputTokens).toBeGreaterThan(0);
      const warm = await collect(engine, { promptTokens: p, maxTokens: 8 });
      expect(warm.done.cachedTokens).toBeGreaterThan(0);
      const cold = await spec.make(0);
      try {
        const c = await collect(cold, { promptTokens: p, maxTokens: 8 });
        expect(c.done.cachedTokens).toBe(0);
        expect(warm.tokens).toEqual(c.tokens);
      } finally {
        await cold.close();
      }
    });

    it('abort stops generation promptly', async () => {
      const ac = new AbortController();
      const r = await collect(engine, { promptTokens: [...prefix, ...(await engine.tokenize('go on forever'))], maxTokens: 1500, signal: ac.signal }, (n) => {
        if (n === 3) ac.abort();
      });
      expect(r.done.stopReason).toBe('aborted');
      expect(r.done.outputTokens).toBe(3);
    });

    it('an already-aborted request ends with done(aborted) and no tokens', async () => {
      const ac = new AbortController();
      ac.abort();
      const r = await collect(engine, { promptTokens: [...prefix, 65], maxTokens: 50, signal: ac.signal });
      expect(r.done.stopReason).toBe('aborted');
      expect(r.tokens).toEqual([]);
      expect(r.done.outputTokens).toBe(0);
    });

    it('a request waiting for a busy engine can be aborted while queued', async () => {
      const busy = new AbortController();
      const started: Promise<unknown>[] = [];
      // Event-driven, no sleeps: `allRunning` resolves once every slot has produced a token; `nextToken()` at
      // the next token of any busy generation (the engine made progress after the queued request was submitted).
      let running = 0;
      let onAllRunning!: () => void;
      const allRunning = new Promise<void>((r) => (onAllRunning = r));
      let tokenWaiters: (() => void)[] = [];
      const nextToken = () => new Promise<void>((r) => tokenWaiters.push(r));
      const onBusyToken = (n: number) => {
        if (n === 1 && ++running === spec.slots) onAllRunning();
        const ws = tokenWaiters;
        tokenWaiters = [];
        for (const w of ws) w();
      };
      // occupy every slot with long generations
      for (let i = 0; i < spec.slots; i++) {
        started.push(collect(engine, { promptTokens: [...prefix, 66 + i], maxTokens: 1500, signal: busy.signal }, onBusyToken));
      }
      await allRunning;
      const waiting = new AbortController();
      const queued = collect(engine, { promptTokens: [...prefix, 70], maxTokens: 5, signal: waiting.signal });
      await nextToken();
      waiting.abort();
      const r = await queued;
      busy.abort();
      await Promise.all(started);
      expect(r.done.stopReason).toBe('aborted');
      expect(r.tokens).toEqual([]);
      expect(r.prefill).toBeUndefined();
    });

    it('stop sequences end generation and are not emitted', async () => {
      // a 2-char stop string from the middle of a free-running output (the tiny random model may hit EOS early:
      // take the first of a few prompts whose output is long enough; no U+FFFD: partial UTF-8 is held back)
      let p: number[] = [];
      let free: Awaited<ReturnType<typeof collect>> | undefined;
      let at: number | undefined;
      for (const ask of ['say something', 'tell me more', 'write a poem', 'count to ten', 'and then?']) {
        p = [...prefix, ...(await engine.tokenize(ask))];
        free = await collect(engine, { promptTokens: p, maxTokens: 40 });
        at = [...free.text.matchAll(/(?=([^\uFFFD]{2}))/gu)].map((m) => m.index).find((i) => i >= 2);
        if (at !== undefined) break;
      }
      expect(at, `free text too short: ${JSON.stringify(free!.text)}`).toBeDefined();
      const stop = free!.text.slice(at!, at! + 2);
      const r = await collect(engine, { promptTokens: p, maxTokens: 40, stop: [stop] });
      expect(r.done.stopReason).toBe('stop_sequence');
      expect(r.done.stopSequence).toBe(stop);
      expect(r.text).toBe(free!.text.slice(0, free!.text.indexOf(stop)));
      expect(r.text).not.toContain(stop);
    });

    it('concurrent requests do not corrupt each other', async () => {
      const prompts = await Promise.all(['alpha', 'beta gamma', 'delta epsilon zeta'].map(async (s) => [...prefix, ...(await engine.tokenize(s))]));
      const together = await Promise.all(prompts.map((p) => collect(engine, { promptTokens: p, maxTokens: 6 })));
      const cold = await spec.make(0);
      try {
        for (const [i, p] of prompts.entries()) {
          const alone = await collect(cold, { promptTokens: p, maxTokens: 6 });
          expect(together[i]!.tokens).toEqual(alone.tokens);
          expect(together[i]!.done.promptTokens).toBe(p.length);
        }
      } finally {
        await cold.close();
      }
    });

    it('cacheBytes 0 disables reuse: every request prefills from scratch', async () => {
      const off = await spec.make(0);
      try {
        const p = [...prefix, ...(await off.tokenize('no cache'))];
        const r1 = await collect(off, { promptTokens: p, maxTokens: 3 });
        const r2 = await collect(off, { promptTokens: p, maxTokens: 3 });
        expect(r1.done.cachedTokens).toBe(0);
        expect(r2.done.cachedTokens).toBe(0);
        expect(r2.tokens).toEqual(r1.tokens);
        const s = off.cacheStats();
        expect(s).toMatchObject({ hits: 0, misses: 2, cachedTokens: 0, evaluatedTokens: 2 * p.length, bytes: 0, entries: 0, capacityBytes: 0 });
      } finally {
        await off.close();
      }
    });

    it('evicts least-recently-used entries by bytes', async () => {
      const probe = await spec.make(1 << 30);
      const kv = probe.info.kvBytesPerToken;
      await probe.close();
      const pa = await engine.tokenize('A'.repeat(200));
      const pb = await engine.tokenize('B'.repeat(200));
      // room for one 200-token entry (+ its outputs), not two
      const small = await spec.make(kv * 300);
      try {
        await collect(small, { promptTokens: pa, maxTokens: 2 });
        await collect(small, { promptTokens: pb, maxTokens: 2 });
        const s = small.cacheStats();
        expect(s.evictions).toBe(1);
        expect(s.entries).toBe(1);
        expect(s.bytes).toBeLessThanOrEqual(kv * 300);
        expect((await collect(small, { promptTokens: pb, maxTokens: 2 })).done.cachedTokens).toBe(pb.length - 1);
        expect((await collect(small, { promptTokens: pa, maxTokens: 2 })).done.cachedTokens).toBe(0);
        expect(small.cacheStats().evictions).toBe(2);
      } finally {
        await small.close();
      }
    });
  });
}
