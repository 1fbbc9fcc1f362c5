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
    // one group per model; no averages across runs
    expect(c.groups.map((g) => [g.model, g.rank, g.metrics.ttft_p50_ms?.median ?? null])).toEqual([['fast-model', 1, 500], ['slow-model', 2, 2000], ['broken-model', null, null]]);
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

  it('groups repeats by model: median and min–max, winner with the difference, "within noise" when spreads overlap', async () => {
    const rep = async (model: string, ms: number, k: number) => {
      const r = await runWith(model, ms, false, { ttftS: null, tpotS: null });
      r.result.config.repeat = k;
      r.result.config.repeats = 3;
      return { ...r, path: `${model}-${k}.json` };
    };
    // small: 300/400/500 ms; big: 900/1000/1300 ms → medians 400 vs 1000, difference 600 > spreads (200, 400)
    const runs = [await rep('small', 300, 1), await rep('small', 500, 2), await rep('small', 400, 3), await rep('big', 900, 1), await rep('big', 1300, 2), await rep('big', 1000, 3)];
    const c = compareRuns(runs);
    expect(c.groups.map((g) => [g.model, g.rank, g.valid_runs, g.metrics.ttft_p50_ms])).toEqual([
      ['small', 1, 3, { median: 400, min: 300, max: 500, n: 3 }],
      ['big', 2, 3, { median: 1000, min: 900, max: 1300, n: 3 }],
    ]);
    const w = c.winners.find((x) => x.metric === 'ttft_p50_ms')!;
    expect(w).toMatchObject({ winner: 'small', runner_up: 'big', difference: 600, difference_pct: 60, within_noise: false, spread_known: true });
    // close models: 400/500/600 vs 500/600/800 → difference 100 < spread 300: within noise
    const close = compareRuns([await rep('a', 400, 1), await rep('a', 500, 2), await rep('a', 600, 3), await rep('b', 500, 1), await rep('b', 600, 2), await rep('b', 800, 3)]);
    expect(close.winners.find((x) => x.metric === 'ttft_p50_ms')).toMatchObject({ winner: 'a', difference: 100, within_noise: true });
  });

  it('an invalid run (too many failures) is listed but left out of its group\'s medians', async () => {
    const good = await runWith('m', 200, false, { ttftS: null, tpotS: null });
    const bad = await runWith('m', 200, true, { ttftS: null, tpotS: null });
    const c = compareRuns([good, { ...bad, path: 'm-bad.json' }]);
    expect(c.groups).toHaveLength(1);
    expect(c.groups[0]).toMatchObject({ runs: 2, valid_runs: 1 });
    expect(c.rows.find((r) => r.file === 'm-bad.json')).toMatchObject({ valid: false, invalid_reason: expect.stringMatching(/100\.0 % of requests failed/) });
  });
});
