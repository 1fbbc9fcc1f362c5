import { describe, expect, it } from 'vitest';
import { compareRuns } from '../../src/replay/compare.js';
import { renderCompareHtml } from '../../src/replay/compare-html.js';
import { runReplay } from '../../src/replay/runner.js';
import { planFromBlocks } from '../../src/replay/plan.js';
import { anthropicBackend } from '../../src/replay/backends/anthropic.js';
import { ManualClock } from '../../src/shared/clock.js';
import { createFakeAnthropic, errorReply, textReply } from '../helpers/fake-anthropic.js';
import { blk, drive, handlerFetch } from './helpers.js';

/** Runs a real replay against an in-process fake with the given per-request latency (virtual time). */
async function runWith(model: string, latencyMs: number, fail = false, slo = { ttftS: 1.5 as number | null, tpotS: null as number | null }) {
  const plan = planFromBlocks([0, 1, 2].map((i) => blk({ id: `r${i}`, t: i, hashIds: [1, 2 + i] })), 'cmp', 'test');
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const fake = createFakeAnthropic({ clock, script: () => (fail ? errorReply(500) : textReply('some output words', { delayMs: latencyMs })) });
  const result = await drive(
    clock,
    runReplay({
      plan, backend: anthropicBackend, endpoint: 'http://fake', apiKey: 'k', model, timing: 'fast', speed: 1, content: 'synthetic',
      maxConcurrency: 1, maxTokens: 8, slo, clock, fetch: handlerFetch(fake.handler),
      config: { source: 'x', source_kind: 'test', conversation: null, label: null, api: 'anthropic' },
    }),
  );
  return { path: `${model}.json`, result };
}

describe('compareRuns', () => {
  it('ranks by goodput when every ok run has SLOs, lists failed runs last and unranked', async () => {
    const fast = await runWith('fast-model', 500);
    const slow = await runWith('slow-model', 2000); // TTFT 2 s > 1.5 s SLO: goodput 0
    const broken = await runWith('broken-model', 0, true);
    const c = compareRuns([slow, broken, fast]);
    expect(c.ranked_by).toBe('goodput_rps');
    expect(c.rows.map((r) => [r.model, r.rank, r.status])).toEqual([
      ['fast-model', 1, 'ok'],
      ['slow-model', 2, 'ok'],
      ['broken-model', null, 'failed'],
    ]);
    expect(c.rows[0]!.ttft_p50_ms).toBe(500);
    expect(c.rows[1]!.ttft_p50_ms).toBe(2000);
    expect(c.averages.ttft_p50_ms).toBe(1250);
    expect(c.failed).toEqual([{ file: 'broken-model.json', model: 'broken-model', reason: expect.stringMatching(/HTTP 500/) }]);
    const html = renderCompareHtml(c);
    expect(html).toContain('fast-model');
    expect(html).toContain('Failed runs');
    expect((html.match(/<svg/g) ?? []).length).toBeGreaterThanOrEqual(3);
  });

  it('falls back to TTFT p50 when a run has no SLO', async () => {
    const a = await runWith('a', 900, false, { ttftS: null, tpotS: null });
    const b = await runWith('b', 300, false, { ttftS: null, tpotS: null });
    const c = compareRuns([a, b]);
    expect(c.ranked_by).toBe('ttft_p50_ms');
    expect(c.rows.map((r) => r.model)).toEqual(['b', 'a']);
  });
});
