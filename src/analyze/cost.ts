/**
 * The one cost formula: API usage (MEASURED tokens) × list prices (src/analyze/prices.ts) = PRICED cost, in USD.
 *
 *   cost = input × input rate + 5m cache writes × 5m write rate + 1h cache writes × 1h write rate
 *        + cache reads × read rate + output × output rate          (rates per million tokens)
 *
 * Cache writes are split by lifetime when the usage carries `cache_creation.ephemeral_{5m,1h}_input_tokens`;
 * otherwise all of `cache_creation_input_tokens` is priced at the 5m rate (the API's default lifetime) and
 * counted in `cacheWriteTtlUnknownTokens`. "Uncached" is the same tokens with no caching: every prompt token
 * (input + cache reads + cache writes) at the base input rate, output unchanged; `saved` = uncached − cost
 * (negative when writes cost more than reads saved).
 */
import type { Usage } from '../shared/anthropic.js';
import { priceFor, type ModelPrice, type PriceTable } from './prices.js';

export interface TokenCounts {
  input: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  cacheRead: number;
  output: number;
}

export interface CostUsd extends TokenCounts {
  total: number;
  /** The same tokens with no prompt caching. */
  uncached: number;
  /** uncached − total. */
  saved: number;
}

export interface ModelCost {
  model: string;
  /** The price-table row used. */
  priceKey: string;
  requests: number;
  tokens: TokenCounts;
  usd: CostUsd;
}

export interface UnpricedModel {
  model: string;
  requests: number;
  tokens: TokenCounts;
}

export interface CostSummary {
  currency: 'USD';
  prices: { source: string; retrieved: string };
  /** Over priced models only (null when none is priced). */
  total: CostUsd | null;
  perModel: ModelCost[];
  /** Models with usage but no price: left out of every total, never guessed. */
  unpriced: UnpricedModel[];
  /** Cache-write tokens whose 5m/1h split the usage did not report (priced at the 5m rate). */
  cacheWriteTtlUnknownTokens: number;
}

const zeroTokens = (): TokenCounts => ({ input: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0, output: 0 });

/** Token counts by price category of one usage record. */
export function tokenCounts(u: Usage): TokenCounts {
  const w1h = Math.min(u.cache_creation?.ephemeral_1h_input_tokens ?? 0, u.cache_creation_input_tokens);
  return { input: u.input_tokens, cacheWrite5m: u.cache_creation_input_tokens - w1h, cacheWrite1h: w1h, cacheRead: u.cache_read_input_tokens, output: u.output_tokens };
}

/** USD for token counts at one model's prices. */
export function costOf(t: TokenCounts, p: ModelPrice): CostUsd {
  const m = 1e6;
  const c = {
    input: (t.input * p.input) / m,
    cacheWrite5m: (t.cacheWrite5m * p.cacheWrite5m) / m,
    cacheWrite1h: (t.cacheWrite1h * p.cacheWrite1h) / m,
    cacheRead: (t.cacheRead * p.cacheRead) / m,
    output: (t.output * p.output) / m,
  };
  const total = c.input + c.cacheWrite5m + c.cacheWrite1h + c.cacheRead + c.output;
  const uncached = ((t.input + t.cacheWrite5m + t.cacheWrite1h + t.cacheRead) * p.input) / m + c.output;
  return { ...c, total, uncached, saved: uncached - total };
}

function addTokens(a: TokenCounts, b: TokenCounts): void {
  a.input += b.input;
  a.cacheWrite5m += b.cacheWrite5m;
  a.cacheWrite1h += b.cacheWrite1h;
  a.cacheRead += b.cacheRead;
  a.output += b.output;
}

function sumCosts(cs: CostUsd[]): CostUsd | null {
  if (cs.length === 0) return null;
  const out: CostUsd = { input: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0, output: 0, total: 0, uncached: 0, saved: 0 };
  for (const c of cs) for (const k of Object.keys(out) as (keyof CostUsd)[]) out[k] += c[k];
  return out;
}

/** Sums usage per model (requests without usage are skipped) and prices it. */
export class CostAccumulator {
  private readonly perModel = new Map<string, { requests: number; tokens: TokenCounts }>();
  private ttlUnknown = 0;

  add(model: string | null | undefined, usage: Usage | null | undefined): void {
    if (!usage) return;
    const m = model ?? '(unknown)';
    let e = this.perModel.get(m);
    if (!e) this.perModel.set(m, (e = { requests: 0, tokens: zeroTokens() }));
    e.requests++;
    addTokens(e.tokens, tokenCounts(usage));
    if (!usage.cache_creation) this.ttlUnknown += usage.cache_creation_input_tokens;
  }

  summary(table: PriceTable): CostSummary {
    const perModel: ModelCost[] = [];
    const unpriced: UnpricedModel[] = [];
    for (const [model, e] of this.perModel) {
      const row = priceFor(table, model);
      if (row) perModel.push({ model, priceKey: row.key, requests: e.requests, tokens: e.tokens, usd: costOf(e.tokens, row.price) });
      else unpriced.push({ model, requests: e.requests, tokens: e.tokens });
    }
    perModel.sort((a, b) => b.usd.total - a.usd.total || a.model.localeCompare(b.model));
    unpriced.sort((a, b) => b.requests - a.requests || a.model.localeCompare(b.model));
    return {
      currency: 'USD',
      prices: { source: table.source, retrieved: table.retrieved },
      total: sumCosts(perModel.map((m) => m.usd)),
      perModel,
      unpriced,
      cacheWriteTtlUnknownTokens: this.ttlUnknown,
    };
  }
}

/** `$1.23`, `$0.0042` — enough digits to see small sums. */
export function fmtUsd(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '-';
  const a = Math.abs(x);
  const s = a >= 100 ? a.toFixed(0) : a >= 1 ? a.toFixed(2) : a >= 0.01 ? a.toFixed(3) : a === 0 ? '0' : a.toPrecision(2);
  return `${x < 0 ? '-' : ''}$${s}`;
}

/** The API's write rate a simulated TTL is priced at: ≤ 5 min → 5m rate, ≤ 1 h → 1h rate, longer → none (unpriced). */
export function writeRateForTtl(ttlS: number): 'cacheWrite5m' | 'cacheWrite1h' | null {
  if (ttlS <= 300) return 'cacheWrite5m';
  if (ttlS <= 3600) return 'cacheWrite1h';
  return null;
}

/** A simulated request's token split (block-model tokens) and its model. */
export interface SimulatedTokens {
  model: string | null;
  readTokens: number;
  creationTokens: number;
  uncachedTokens: number;
  outputTokens: number;
}

export interface SimulatedCost {
  /** USD over priced requests; null when the TTL has no API write rate or no request is priced. */
  usd: number | null;
  /** The same requests with no caching. */
  uncachedUsd: number | null;
  /** Requests whose model has no price (left out). */
  unpricedRequests: number;
  writeRate: 'cacheWrite5m' | 'cacheWrite1h' | null;
}

/** Cost of a simulated run at one TTL: simulated writes at that lifetime's write rate, reads, uncached input, output. */
export function simulatedCost(reqs: Iterable<SimulatedTokens>, ttlS: number, table: PriceTable): SimulatedCost {
  const writeRate = writeRateForTtl(ttlS);
  let usd = 0;
  let uncachedUsd = 0;
  let priced = 0;
  let unpricedRequests = 0;
  for (const r of reqs) {
    const row = priceFor(table, r.model);
    if (!row) {
      unpricedRequests++;
      continue;
    }
    priced++;
    const t: TokenCounts = {
      input: r.uncachedTokens,
      cacheWrite5m: writeRate === 'cacheWrite1h' ? 0 : r.creationTokens,
      cacheWrite1h: writeRate === 'cacheWrite1h' ? r.creationTokens : 0,
      cacheRead: r.readTokens,
      output: r.outputTokens,
    };
    const c = costOf(t, row.price);
    usd += c.total; // meaningless without a write rate: reported as null below
    uncachedUsd += c.uncached;
  }
  return { usd: writeRate && priced > 0 ? usd : null, uncachedUsd: priced > 0 ? uncachedUsd : null, unpricedRequests, writeRate };
}
