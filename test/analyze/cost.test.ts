/**
 * Cost at list prices: the shipped JSONL session priced by hand (usage lines deduplicated by message id, summed
 * per model, times the rates written here as literals) equals `trace analyze --json`; unknown models stay
 * unpriced; `--prices` overrides.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES, HAS_SHARED } from '../helpers/paths.js';
import { runCli } from './run-cli.js';
import { CostAccumulator, costOf, simulatedCost, tokenCounts } from '../../src/analyze/cost.js';
import { DEFAULT_PRICES, priceFor } from '../../src/analyze/prices.js';

const JSONL = join(FIXTURES, 'agentic-coding-analysis', 'jsonl');

/** USD per million tokens, copied by hand from https://platform.claude.com/docs/en/about-claude/pricing. */
const RATES: Record<string, { input: number; w5m: number; w1h: number; read: number; output: number }> = {
  'claude-haiku-4-5-20251001': { input: 1, w5m: 1.25, w1h: 2, read: 0.1, output: 5 },
  'claude-opus-4-6': { input: 5, w5m: 6.25, w1h: 10, read: 0.5, output: 25 },
};

function handCost(): { perModel: Record<string, number>; total: number; uncached: number } {
  const byId = new Map<string, { model: string; u: any }>();
  const visit = (o: any) => {
    if (o?.type === 'assistant' && o.message?.id && o.message.usage && o.message.model !== '<synthetic>') byId.set(o.message.id, { model: o.message.model, u: o.message.usage });
  };
  for (const f of readdirSync(JSONL).filter((n) => n.endsWith('.jsonl'))) {
    for (const line of readFileSync(join(JSONL, f), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const o = JSON.parse(line);
      visit(o);
      if (o.type === 'progress' && o.data?.type === 'agent_progress') visit(o.data.message);
    }
  }
  const perModel: Record<string, number> = {};
  let uncached = 0;
  for (const { model, u } of byId.values()) {
    const r = RATES[model]!;
    const w1h = u.cache_creation?.ephemeral_1h_input_tokens ?? 0;
    const w5m = u.cache_creation_input_tokens - w1h;
    const usd = (u.input_tokens * r.input + w5m * r.w5m + w1h * r.w1h + u.cache_read_input_tokens * r.read + u.output_tokens * r.output) / 1e6;
    perModel[model] = (perModel[model] ?? 0) + usd;
    uncached += ((u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens) * r.input + u.output_tokens * r.output) / 1e6;
  }
  return { perModel, total: Object.values(perModel).reduce((a, b) => a + b, 0), uncached };
}

describe.skipIf(!HAS_SHARED)('cost of the shipped JSONL session', () => {
  it('trace analyze --json prices the usage exactly as computed by hand from the usage lines', async () => {
    const want = handCost();
    expect(Object.keys(want.perModel).sort()).toEqual(['claude-haiku-4-5-20251001', 'claude-opus-4-6']);
    const { code, stdout } = await runCli(['analyze', JSONL, '--tokenizer', 'chars4', '--json']);
    expect(code).toBe(0);
    const r = JSON.parse(stdout);
    expect(r.cost.currency).toBe('USD');
    expect(r.cost.prices).toEqual({ source: 'https://platform.claude.com/docs/en/about-claude/pricing', retrieved: '2026-12-07' });
    expect(r.cost.unpriced).toEqual([]);
    for (const [model, usd] of Object.entries(want.perModel)) {
      expect(r.cost.perModel.find((m: any) => m.model === model).usd.total).toBeCloseTo(usd, 12);
    }
    expect(r.cost.total.total).toBeCloseTo(want.total, 12);
    expect(r.cost.total.uncached).toBeCloseTo(want.uncached, 12);
    expect(r.cost.total.saved).toBeCloseTo(want.uncached - want.total, 12);
    expect(r.cost.cacheWriteTtlUnknownTokens).toBe(0); // every usage line carries the 5m/1h split
    // per conversation: the one conversation costs the total
    expect(r.conversations).toHaveLength(1);
    expect(r.conversations[0].costUsd).toBeCloseTo(want.total, 12);
    // trace list shows the same per conversation and in total
    const list = JSON.parse((await runCli(['list', JSONL, '--json'])).stdout);
    expect(list.conversations[0].costUsd).toBeCloseTo(want.total, 12);
    expect(list.cost.total.total).toBeCloseTo(want.total, 12);
    // trace report puts it in its summary
    const dir = mkdtempSync(join(tmpdir(), 'trace-cost-report-'));
    try {
      const out = join(dir, 'r.html');
      expect((await runCli(['report', JSONL, '--out', out, '--json'])).code).toBe(0);
      const html = readFileSync(out, 'utf8');
      expect(html).toContain('cost at list prices (https://platform.claude.com/docs/en/about-claude/pricing, 2026-12-07)');
      expect(html).toContain(`$${want.total.toFixed(3)} (uncached $${want.uncached.toFixed(2)}; caching saved $${(want.uncached - want.total).toFixed(2)})`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--prices lays a file over the table; a bad file is a one-line input error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trace-prices-'));
    try {
      const file = join(dir, 'prices.json');
      writeFileSync(file, JSON.stringify({ source: 'my contract', retrieved: '2026-12-01', models: { 'claude-opus-4-6': { input: 0, cache_write_5m: 0, cache_write_1h: 0, cache_read: 0, output: 0 } } }));
      const { code, stdout } = await runCli(['analyze', JSONL, '--tokenizer', 'chars4', '--json', '--prices', file]);
      expect(code).toBe(0);
      const r = JSON.parse(stdout);
      expect(r.cost.perModel.find((m: any) => m.model === 'claude-opus-4-6').usd.total).toBe(0);
      expect(r.cost.total.total).toBeCloseTo(handCost().perModel['claude-haiku-4-5-20251001']!, 12);
      expect(r.cost.prices.retrieved).toBe('2026-12-01');
      writeFileSync(file, JSON.stringify({ models: { 'claude-opus-4-6': { input: 5 } } }));
      const bad = await runCli(['analyze', JSONL, '--tokenizer', 'chars4', '--json', '--prices', file]);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr.trim().split('\n')).toHaveLength(1);
      expect(bad.stderr).toMatch(/cache_write_5m must be a number/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!HAS_SHARED)('simulate --sweep ttl shows the cost of each TTL', () => {
  it('5m vs 1h: the difference is the simulated writes times the rate difference; past 1 h there is no rate', async () => {
    const { code, stdout } = await runCli(['simulate', JSONL, '--sweep', 'ttl=300,3600,7200', '--requests', '--json']);
    expect(code).toBe(0);
    const r = JSON.parse(stdout);
    const [p5, p60, p120] = r.sweep.points;
    expect([p5.write_rate, p60.write_rate, p120.write_rate]).toEqual(['cacheWrite5m', 'cacheWrite1h', null]);
    expect(p120.cost_usd).toBeNull();
    // the anthropic policy's hits do not change between 5 min and 1 h here, so only the write rate differs
    expect(p60.hit_rate).toBe(p5.hit_rate);
    let extra = 0;
    for (const q of r.requests) extra += (q.creation_tokens * (RATES[q.model]!.w1h - RATES[q.model]!.w5m)) / 1e6;
    expect(extra).toBeGreaterThan(0);
    expect(p60.cost_usd - p5.cost_usd).toBeCloseTo(extra, 9);
    expect(p5.uncached_usd).toBeCloseTo(p120.uncached_usd, 9);
  });
});

describe('price table and cost formula', () => {
  it('simulated cost at a TTL: writes at the lifetime that covers it', () => {
    const reqs = [
      { model: 'claude-haiku-4-5', readTokens: 1_000_000, creationTokens: 2_000_000, uncachedTokens: 3_000_000, outputTokens: 100_000 },
      { model: 'local-model', readTokens: 5, creationTokens: 5, uncachedTokens: 5, outputTokens: 5 },
    ];
    // haiku 4.5: 3M×$1 + 2M×$1.25 + 1M×$0.10 + 0.1M×$5 = 3 + 2.5 + 0.1 + 0.5
    expect(simulatedCost(reqs, 300, DEFAULT_PRICES)).toEqual({ usd: 6.1, uncachedUsd: 6.5, unpricedRequests: 1, writeRate: 'cacheWrite5m' });
    const h = simulatedCost(reqs, 3600, DEFAULT_PRICES); // 2M×$2 instead of 2M×$1.25
    expect(h.usd).toBeCloseTo(7.6, 12);
    expect(simulatedCost(reqs, 86_400, DEFAULT_PRICES).usd).toBeNull();
  });

  it('matches snapshot and context suffixes, never a neighbouring version', () => {
    expect(priceFor(DEFAULT_PRICES, 'claude-haiku-4-5-20251001')?.key).toBe('claude-haiku-4-5');
    expect(priceFor(DEFAULT_PRICES, 'claude-opus-4-6[1m]')?.key).toBe('claude-opus-4-6');
    expect(priceFor(DEFAULT_PRICES, 'claude-opus-4-20250514')?.key).toBe('claude-opus-4');
    expect(priceFor(DEFAULT_PRICES, 'claude-opus-4-9')).toBeNull();
    expect(priceFor(DEFAULT_PRICES, 'claude-sonnet-5-5')).toBeNull();
    expect(priceFor(DEFAULT_PRICES, 'qwen3-coder')).toBeNull();
    expect(priceFor(DEFAULT_PRICES, null)).toBeNull();
  });

  it('prices 5m and 1h writes at their own rates and states what caching saved', () => {
    const u = { input_tokens: 1000, cache_creation_input_tokens: 3000, cache_read_input_tokens: 10_000, output_tokens: 500, cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 } };
    const c = costOf(tokenCounts(u), DEFAULT_PRICES.models['claude-opus-4-6']!);
    // 1000×5 + 1000×6.25 + 2000×10 + 10000×0.5 + 500×25 = 48 750 µ$; uncached 14 000×5 + 500×25 = 82 500 µ$
    expect(c.total).toBeCloseTo(0.04875, 12);
    expect(c.uncached).toBeCloseTo(0.0825, 12);
    expect(c.saved).toBeCloseTo(0.03375, 12);
  });

  it('lists unknown models as unpriced and leaves them out of the total; counts writes without a TTL split', () => {
    const acc = new CostAccumulator();
    acc.add('claude-haiku-4-5', { input_tokens: 1_000_000, cache_creation_input_tokens: 1_000_000, cache_read_input_tokens: 0, output_tokens: 0 });
    acc.add('llama-local', { input_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 7 });
    acc.add('llama-local', null);
    const s = acc.summary(DEFAULT_PRICES);
    expect(s.total!.total).toBeCloseTo(1 + 1.25, 12); // 1M input at $1 + 1M 5m writes at $1.25
    expect(s.unpriced).toEqual([{ model: 'llama-local', requests: 1, tokens: { input: 5, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0, output: 7 } }]);
    expect(s.cacheWriteTtlUnknownTokens).toBe(1_000_000);
  });
});
