/**
 * The one dated table of Anthropic API list prices (USD per million tokens) that `trace` prices traffic with,
 * and the rules for matching a model id to a row. A model with no row is UNPRICED (listed as such), never priced
 * at a neighbour's rate. `--prices FILE` (same JSON shape as `PriceTableInput`) adds or replaces rows.
 *
 * Source: https://platform.claude.com/docs/en/about-claude/pricing ("Model pricing" table: base input, 5m cache
 * writes, 1h cache writes, cache hits & refreshes, output), plus the model pages
 * https://platform.claude.com/docs/en/models/sonnet-5/overview for Claude Sonnet 5. Taken 2026-12-07 from the
 * copies our search tool holds of those pages. Models we could not read a price for on those pages (Claude Opus
 * 5.5, Sonnet 5.5, Haiku 5.5 — whose price depends on prompt length —, Fable/Mythos 5.2) are deliberately left
 * out: they show as unpriced until you pass `--prices`.
 * Not modelled: Batch API (50 % off), fast mode, US-only inference (1.1×), long-context surcharges of older
 * models (Sonnet 4/4.5 over 200K input), data-residency multipliers.
 */
import { InputError } from '../shared/errors.js';

/** USD per million tokens. */
export interface ModelPrice {
  input: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  cacheRead: number;
  output: number;
}

export interface PriceTable {
  /** Where the prices come from (URL or file). */
  source: string;
  /** When they were taken (YYYY-MM-DD). */
  retrieved: string;
  currency: 'USD';
  /** Model id (API form, without a date suffix) → price. */
  models: Readonly<Record<string, Readonly<ModelPrice>>>;
}

const p = (input: number, cacheWrite5m: number, cacheWrite1h: number, cacheRead: number, output: number): ModelPrice => ({ input, cacheWrite5m, cacheWrite1h, cacheRead, output });

export const DEFAULT_PRICES: PriceTable = {
  source: 'https://platform.claude.com/docs/en/about-claude/pricing',
  retrieved: '2026-12-07',
  currency: 'USD',
  models: {
    'claude-fable-5-1': p(10, 12.5, 20, 0.25, 50),
    'claude-mythos-5-1': p(10, 12.5, 20, 0.25, 50),
    'claude-fable-5': p(10, 12.5, 20, 1, 50),
    'claude-mythos-5': p(10, 12.5, 20, 1, 50),
    'claude-opus-5': p(5, 6.25, 10, 0.5, 25),
    'claude-opus-4-8': p(5, 6.25, 10, 0.5, 25),
    'claude-opus-4-7': p(5, 6.25, 10, 0.5, 25),
    'claude-opus-4-6': p(5, 6.25, 10, 0.5, 25),
    'claude-opus-4-5': p(5, 6.25, 10, 0.5, 25),
    'claude-opus-4-1': p(15, 18.75, 30, 1.5, 75),
    'claude-opus-4': p(15, 18.75, 30, 1.5, 75),
    'claude-opus-4-0': p(15, 18.75, 30, 1.5, 75),
    'claude-sonnet-5': p(2, 2.5, 4, 0.2, 10),
    'claude-sonnet-4-6': p(3, 3.75, 6, 0.3, 15),
    'claude-sonnet-4-5': p(3, 3.75, 6, 0.3, 15),
    'claude-sonnet-4': p(3, 3.75, 6, 0.3, 15),
    'claude-sonnet-4-0': p(3, 3.75, 6, 0.3, 15),
    'claude-3-7-sonnet': p(3, 3.75, 6, 0.3, 15),
    'claude-haiku-4-5': p(1, 1.25, 2, 0.1, 5),
    'claude-3-5-haiku': p(0.8, 1, 1.6, 0.08, 4),
    'claude-3-opus': p(15, 18.75, 30, 1.5, 75),
    'claude-3-haiku': p(0.25, 0.3, 0.5, 0.03, 1.25),
  },
};

/**
 * The row for a model id: the id itself, or the id minus a snapshot suffix (`-20251001`, `@20251001`, `-latest`)
 * and a context tag (`[1m]`). `claude-opus-4-9` does NOT match `claude-opus-4`: an unknown version is unpriced.
 */
export function priceFor(table: PriceTable, model: string | null | undefined): { key: string; price: ModelPrice } | null {
  if (!model) return null;
  const id = model.trim().toLowerCase().replace(/\[[^\]]*\]$/, '');
  const candidates = [id, id.replace(/(?:[-@]\d{8}|-latest)$/, '')];
  for (const key of candidates) {
    const price = table.models[key];
    if (price) return { key, price };
  }
  return null;
}

const FIELDS: Record<keyof ModelPrice, string> = {
  input: 'input',
  cacheWrite5m: 'cache_write_5m',
  cacheWrite1h: 'cache_write_1h',
  cacheRead: 'cache_read',
  output: 'output',
};

/**
 * Reads a `--prices` file's JSON: `{ "source"?, "retrieved"?, "models": { "<model id>": { "input", "cache_write_5m",
 * "cache_write_1h", "cache_read", "output" } } }` (USD per million tokens, every field required) and lays it over
 * `base` (its rows add to or replace the base rows). Throws InputError naming the first bad field.
 */
export function mergePriceTable(base: PriceTable, json: unknown, file: string): PriceTable {
  const o = json as { source?: unknown; retrieved?: unknown; models?: unknown } | null;
  if (!o || typeof o !== 'object' || !o.models || typeof o.models !== 'object' || Array.isArray(o.models)) {
    throw new InputError(`${file}: a price file is {"models": {"<model id>": {"input": …, "cache_write_5m": …, "cache_write_1h": …, "cache_read": …, "output": …}}} (USD per million tokens)`);
  }
  const models: Record<string, ModelPrice> = { ...base.models };
  for (const [id, row] of Object.entries(o.models as Record<string, unknown>)) {
    const r = (row ?? {}) as Record<string, unknown>;
    const price = {} as ModelPrice;
    for (const [k, name] of Object.entries(FIELDS) as [keyof ModelPrice, string][]) {
      const v = r[name];
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new InputError(`${file}: models["${id}"].${name} must be a number ≥ 0 (USD per million tokens)`);
      price[k] = v;
    }
    models[id.toLowerCase()] = price;
  }
  return {
    source: typeof o.source === 'string' ? `${o.source} (via ${file}) over ${base.source}` : `${file} over ${base.source}`,
    retrieved: typeof o.retrieved === 'string' ? o.retrieved : base.retrieved,
    currency: 'USD',
    models,
  };
}
