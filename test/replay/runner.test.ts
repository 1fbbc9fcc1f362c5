import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../../src/shared/clock.js';
import { planFromBlocks } from '../../src/replay/plan.js';
import { runReplay, type ReplayOptions } from '../../src/replay/runner.js';
import { anthropicBackend } from '../../src/replay/backends/anthropic.js';
import { openaiBackend } from '../../src/replay/backends/openai.js';
import { readResults, writeResult } from '../../src/replay/results.js';
import { createFakeAnthropic, errorReply, textReply } from '../helpers/fake-anthropic.js';
import { createFakeOpenAI } from './fake-openai.js';
import { blk, drive, handlerFetch } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'trace-replay-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function opts(over: Partial<ReplayOptions> & Pick<ReplayOptions, 'plan' | 'fetch'>): ReplayOptions {
  return {
    backend: anthropicBackend,
    endpoint: 'http://fake.local',
    apiKey: 'k',
    model: 'target',
    timing: 'fast',
    speed: 1,
    content: 'synthetic',
    maxConcurrency: 4,
    maxTokens: 16,
    slo: { ttftS: null, tpotS: null },
    clock: systemClock,
    config: { source: 'test', source_kind: 'test', conversation: null, label: null, api: 'anthropic' },
    ...over,
  };
}

describe('runReplay', () => {
  it('a failing request is a record (ok=false), the rest of the run continues', async () => {
    const plan = planFromBlocks([0, 1, 2, 3].map((i) => blk({ id: `r${i}`, t: i, hashIds: [1, 10 + i] })), 'errs', 'test');
    const fake = createFakeAnthropic({ script: (_b, i) => (i === 1 ? errorReply(529) : textReply('fine answer')) });
    const res = await runReplay(opts({ plan, fetch: handlerFetch(fake.handler) }));
    expect(res.status).toBe('complete');
    expect(res.summary.requests).toEqual({ total: 4, ok: 3, failed: 1, not_sent: 0 });
    const bad = res.requests.find((r) => !r.ok)!;
    expect(bad.status).toBe(529);
    expect(bad.error).toMatch(/529/);
    // every body went out with the target model and synthetic content
    expect(fake.messages().every((m) => m.body.model === 'target' && typeof m.body.messages[0].content === 'string')).toBe(true);
  });

  it('expected cached tokens follow the order requests ran; cache is written at prefill end', async () => {
    // r0 and r1 start together (r1 cannot reuse r0: its prefill has not ended); r2 runs after both.
    const plan = planFromBlocks(
      [
        blk({ id: 'r0', t: 0, hashIds: [1, 2, 3], inputTokens: 200, apiTime: 2 }),
        blk({ id: 'r1', t: 0, agentId: 'other', hashIds: [1, 2, 4], inputTokens: 200, apiTime: 2 }),
        blk({ id: 'r2', t: 5, hashIds: [1, 2, 3, 5], inputTokens: 260, thinkTime: 3, apiTime: 2 }),
      ],
      'cache',
      'test',
    );
    const clock = new ManualClock(0);
    const fake = createFakeAnthropic({
      clock,
      script: () => textReply('x y z', { delayMs: 1000, usage: { input_tokens: 10, cache_read_input_tokens: 0, cache_creation_input_tokens: 0, output_tokens: 3 } }),
    });
    const res = await drive(clock, runReplay(opts({ plan, clock, timing: 'recorded', fetch: handlerFetch(fake.handler) })));
    const exp = Object.fromEntries(res.requests.map((r) => [r.id, r.expected_cached_tokens]));
    expect(exp).toEqual({ r0: 0, r1: 0, r2: 3 * 64 });
    expect(res.summary.cache.expected_cached_tokens).toBe(192);
  });

  it('send/plan times are relative to the run start on the monotonic clock, whatever the wall clock says', async () => {
    const plan = planFromBlocks([0, 2, 5].map((t, i) => blk({ id: `r${i}`, t, hashIds: [1, 10 + i] })), 'times', 'test');
    const clock = new ManualClock(0);
    clock.jumpWall(1.7e12); // wall clock = a real epoch time; monotonic starts near 0 (as performance.now() does)
    const fake = createFakeAnthropic({ clock, script: () => textReply('ok', { delayMs: 100 }) });
    const res = await drive(clock, runReplay(opts({ plan, clock, timing: 'recorded', fetch: handlerFetch(fake.handler) })));
    expect(res.requests.map((r) => Math.round(r.planned_at_ms))).toEqual([0, 2000, 5000]);
    for (const r of res.requests) expect(r.sent_at_ms - r.planned_at_ms).toBeGreaterThanOrEqual(0);
    expect(res.requests.map((r) => Math.round(r.sent_at_ms))).toEqual([0, 2000, 5000]);
    expect(Date.parse(res.started_at)).toBe(1.7e12);
  });

  it('Ctrl-C keeps the partial results (status interrupted) and they can be written and read back', async () => {
    const plan = planFromBlocks([0, 1, 2, 3, 4].map((i) => blk({ id: `r${i}`, t: i * 2, hashIds: [i + 1] })), 'intr', 'test');
    const ac = new AbortController();
    const clock = new ManualClock(0);
    const fake = createFakeAnthropic({
      clock,
      script: (_b, i) => {
        if (i === 2) ac.abort(new Error('SIGINT'));
        return textReply('answer');
      },
    });
    const res = await drive(clock, runReplay(opts({ plan, clock, timing: 'recorded', signal: ac.signal, fetch: handlerFetch(fake.handler) })));
    expect(res.status).toBe('interrupted');
    expect(res.requests.length).toBeLessThan(5);
    expect(res.requests.filter((r) => r.ok).length).toBe(2);
    expect(res.summary.requests.total).toBe(5);
    expect(res.summary.requests.not_sent).toBe(5 - res.requests.length);
    const file = writeResult(tmp, res);
    expect(file).toMatch(/intr_target_\d{8}T\d{6}Z\.json$/);
    const back = readResults(tmp);
    expect(back.map((b) => b.result.status)).toContain('interrupted');
    expect(JSON.parse(readFileSync(file, 'utf8')).schema).toBe('trace-replay-result/1');
  });

  it('openai: usage (cached tokens) from the include_usage chunk; TPOT/goodput computed from measured times', async () => {
    const plan = planFromBlocks([0, 1].map((i) => blk({ id: `r${i}`, t: i, hashIds: [1, 2 + i], outputTokens: 6 })), 'oa', 'test');
    const clock = new ManualClock(0);
    const fake = createFakeOpenAI(
      () => ({ type: 'text', text: 'abcdefghijklmnopqrstuvwx', pieceSize: 4, eventDelayMs: 100, usage: { prompt_tokens: 130, completion_tokens: 6, cached_tokens: 64 } }),
      clock,
    );
    const res = await drive(
      clock,
      runReplay(opts({ plan, clock, backend: openaiBackend, maxTokens: 'recorded', slo: { ttftS: 0.25, tpotS: 0.15 }, fetch: handlerFetch(fake.handler) })),
      50,
    );
    expect(res.summary.requests.ok).toBe(2);
    const r = res.requests[0]!;
    // events: role chunk, 6 content chunks, finish, usage, [DONE] — each 100 ms apart; first content is event 2.
    expect(r.ttft_ms).toBe(200);
    expect(r.itl_ms).toEqual([100, 100, 100, 100, 100]);
    expect(r.e2e_ms).toBe(1000);
    expect(r.tpot_ms).toBe((1000 - 200) / 5);
    expect(r).toMatchObject({ prompt_tokens: 130, cached_tokens: 64, output_tokens: 6, output_tokens_source: 'server' });
    expect(fake.requests[0]!.body.max_tokens).toBe(6);
    expect(res.summary.cache.server_hit_rate).toBeCloseTo(64 / 130);
    // TTFT 200 ms ≤ 250 ms but TPOT 160 ms > 150 ms: no request meets both SLOs
    expect(res.summary.goodput_fraction).toBe(0);
  });

  it('counts output tokens with the tokenizer when the server reports no usage', async () => {
    const plan = planFromBlocks([blk({ id: 'r0', t: 0 })], 'tok', 'test');
    const fake = createFakeOpenAI(() => ({ type: 'text', text: 'one two three four', pieceSize: 4 }));
    const res = await runReplay(opts({ plan, backend: openaiBackend, countTokens: (t) => t.split(' ').length, fetch: handlerFetch(fake.handler) }));
    expect(res.requests[0]).toMatchObject({ ok: true, output_tokens: 4, output_tokens_source: 'tokenizer', cached_tokens: null });
  });
});
