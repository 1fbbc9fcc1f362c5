/**
 * Capacity and cache-bust on in-process fakes with an injected clock: a server whose TTFT grows with the number
 * of requests in flight finds the right level; copies and repeats carry their own markers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/shared/clock.js';
import { planFromBlocks } from '../../src/replay/plan.js';
import { replicatePlan, selectRequest } from '../../src/replay/plan-transforms.js';
import { anthropicBackend } from '../../src/replay/backends/anthropic.js';
import { runSeries } from '../../src/pipelines/replay-series.js';
import { ensureWritableDir } from '../../src/replay/results.js';
import { applyCacheBust } from '../../src/replay/content.js';
import { createFakeAnthropic, textReply } from '../helpers/fake-anthropic.js';
import { blk, drive, handlerFetch } from './helpers.js';
import { writeFileSync } from 'node:fs';

const tmp = mkdtempSync(join(tmpdir(), 'trace-capacity-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('capacity (--users)', () => {
  it('a fake server whose TTFT = 100 ms × requests in flight: SLO TTFT 0.4 s at p90 holds up to 4 users, not 8', async () => {
    const clock = new ManualClock(0);
    let inFlight = 0;
    const fake = createFakeAnthropic({
      clock,
      script: () => {
        inFlight++;
        return textReply('a b c d', { delayMs: 100 * inFlight });
      },
    });
    const handler = async (r: Request) => {
      const res = await fake.handler(r);
      if (new URL(r.url).pathname !== '/v1/messages') return res;
      // the request counts as in flight until its body has been read
      const body = await res.text();
      inFlight--;
      return new Response(body, { status: res.status, headers: res.headers });
    };
    // one request per copy; all copies start together (stagger 0)
    const plan = planFromBlocks([blk({ id: 'only', t: 0, inputTokens: 64, outputTokens: 4, hashIds: [7] })], 'cap', 'test');
    const res = await drive(
      clock,
      runSeries({
        plan, models: ['m'], endpoint: 'http://fake.local', serve: { engine: 'llama', command: [] },
        warmup: 'none', repeats: 1, cacheBust: false, users: [1, 2, 4, 8], staggerMs: 0, idleGapCapS: null, out: join(tmp, 'cap'),
        replay: {
          backend: anthropicBackend, apiKey: 'k', timing: 'fast', speed: 1, content: 'synthetic', maxConcurrency: 64, maxTokens: 4,
          slo: { ttftS: 0.4, tpotS: null }, clock, fetch: handlerFetch(handler),
          config: { source: 'cap', source_kind: 'test', conversation: null, label: null, api: 'anthropic' },
        },
      }),
    );
    expect(res.capacity).toHaveLength(1);
    const c = res.capacity[0]!;
    // TTFTs per level: 1 → {100}; 2 → {100,200}; 4 → {100..400}; 8 → {100..800} (linear-interpolated p90 by hand)
    expect(c.levels.map((l) => [l.users, l.ttft_p50_ms, l.ttft_p90_ms, l.holds])).toEqual([
      [1, 100, 100, true],
      [2, 150, 190, true],
      [4, 250, 370, true],
      [8, 450, 730, false],
    ]);
    expect(c.capacity_users).toBe(4);
    expect(res.runs.map((r) => r.result.config.users)).toEqual([1, 2, 4, 8]);
    // each copy its own marker: 8 distinct first user messages at level 8
    const level8 = fake.messages().slice(-8).map((m) => String(m.body.messages[0].content).slice(0, 12));
    expect(new Set(level8).size).toBe(8);
  });

  it('copies: own ids, conversations and agents, staggered start offsets', () => {
    const plan = planFromBlocks([blk({ id: 'a', t: 0 }), blk({ id: 'b', t: 1, thinkTime: 0.5 })], 'p', 'test');
    const three = replicatePlan(plan, 3, 250);
    expect(three.requests.map((r) => [r.id, r.offsetMs, r.copy])).toEqual([
      ['a', 0, 0], ['a~u1', 250, 1], ['a~u2', 500, 2], ['b', 1000, 0], ['b~u1', 1250, 1], ['b~u2', 1500, 2],
    ]);
    expect(three.requests.find((r) => r.id === 'b~u2')!.deps).toEqual(['a~u2']);
  });
});

describe('cache-bust, --request, --out', () => {
  it('the marker starts the first user message (string or blocks); tools and system are untouched', () => {
    const body = { model: 'm', max_tokens: 1, system: 'sys', tools: [{ name: 't', input_schema: {} }], messages: [{ role: 'user' as const, content: 'hello' }, { role: 'assistant' as const, content: 'x' }, { role: 'user' as const, content: 'again' }] };
    applyCacheBust(body as never, 'run-1');
    expect(body.messages.map((m) => m.content)).toEqual(['[run-1] hello', 'x', 'again']);
    expect(body.system).toBe('sys');
    const blocks = { model: 'm', max_tokens: 1, messages: [{ role: 'user' as const, content: [{ type: 'tool_result', tool_use_id: 'x', content: 'r' }] }] };
    applyCacheBust(blocks as never, 'run-2');
    expect(blocks.messages[0]!.content[0]).toEqual({ type: 'text', text: '[run-2] ' });
  });

  it('--request picks one request (exact id or unique prefix), sent at once', () => {
    const plan = planFromBlocks([blk({ id: 'req-aa', t: 0 }), blk({ id: 'req-bb', t: 5, thinkTime: 1 })], 'p', 'test');
    const one = selectRequest(plan, 'req-b');
    expect(one.requests.map((r) => [r.id, r.offsetMs, r.deps, r.delayMs])).toEqual([['req-bb', 0, [], 0]]);
    expect(() => selectRequest(plan, 'req-')).toThrow(/ambiguous/);
    expect(() => selectRequest(plan, 'nope')).toThrow(/no replayable request "nope"/);
  });

  it('--out: a file in the way or an unwritable directory is refused before anything is sent', () => {
    const file = join(tmp, 'a-file');
    writeFileSync(file, 'x');
    expect(() => ensureWritableDir(file)).toThrow(/--out .*a-file is a file, not a directory/);
    expect(() => ensureWritableDir(join(file, 'sub'))).toThrow(/is not a writable directory: ENOTDIR/);
    ensureWritableDir(join(tmp, 'new', 'deep'));
  });
});
