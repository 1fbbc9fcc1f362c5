import type { Command } from 'commander';
import { UsageError } from '../shared/errors.js';
import { DEFAULT_TOKENIZER } from '../analyze/tokenizers/index.js';
import { HASH_ALGORITHMS, type HashAlgorithm } from '../analyze/blocks/chain-hash.js';
import { CACHE_POLICIES, type PolicyOptions } from '../analyze/cache/index.js';
import { CACHE_SCOPES, type CacheScope, type WriteAt } from '../analyze/cache/simulator.js';
import type { SweepParam } from '../analyze/cache/sweep.js';
import type { SimSetup } from '../pipelines/block-source.js';

/**
 * One home for option parsing: every command turns flag strings into numbers, durations and capacities here
 * (so each flag error reads the same and exits 2).
 */

export interface NumberRule {
  min?: number;
  max?: number;
  integer?: boolean;
  /** min is exclusive (e.g. "> 0" for a fraction). */
  exclusiveMin?: boolean;
}

function describe(rule: NumberRule): string {
  const kind = rule.integer ? 'an integer' : 'a number';
  if (rule.min !== undefined && rule.max !== undefined) return `${kind} in ${rule.min}..${rule.max}`;
  if (rule.min !== undefined) return `${kind} ${rule.exclusiveMin ? '>' : '≥'} ${rule.min}`;
  if (rule.max !== undefined) return `${kind} ≤ ${rule.max}`;
  return kind;
}

/** `--prices <file>` (analyze, list, report, simulate). */
export const PRICES_OPTION_HELP =
  'JSON price file laid over the built-in dated list prices: {"models": {"<model id>": {"input", "cache_write_5m", "cache_write_1h", "cache_read", "output"}}} in USD per million tokens';

/** Parses one numeric flag value; `flag` is the flag as the user typed it (e.g. "--port"). */
export function parseNumber(value: string, flag: string, rule: NumberRule = {}): number {
  const n = value.trim() === '' ? NaN : Number(value);
  const bad =
    !Number.isFinite(n) ||
    (rule.integer && !Number.isInteger(n)) ||
    (rule.min !== undefined && (rule.exclusiveMin ? n <= rule.min : n < rule.min)) ||
    (rule.max !== undefined && n > rule.max);
  if (bad) throw new UsageError(`${flag} must be ${describe(rule)}, got ${JSON.stringify(value)}`);
  return n;
}

/** Integer flag with bounds. */
export function parseInteger(value: string, flag: string, min?: number, max?: number): number {
  return parseNumber(value, flag, { integer: true, min, max });
}

/** Optional positive integer (undefined passes through). */
export function parsePositiveInt(v: string | undefined, flag: string): number | undefined {
  return v === undefined ? undefined : parseInteger(v, flag, 1);
}

/** A commander argument parser for an integer flag (`.option('--n <n>', '…', intArg('--n', 1))`). */
export function intArg(flag: string, min?: number, max?: number): (v: string) => number {
  return (v: string) => parseInteger(v, flag, min, max);
}

/** Optional number flag: null when absent. */
export function optionalNumber(v: string | undefined, flag: string, rule: NumberRule = {}): number | null {
  return v === undefined ? null : parseNumber(v, flag, rule);
}

/** '5m' → 300, '1h' → 3600, '90s'/'90' → 90, '250ms' → 0.25. */
export function parseDurationS(v: string, flag = '--ttl'): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new UsageError(`${flag} must look like 300, 90s, 5m or 1h, got ${JSON.stringify(v)}`);
  const n = Number(m[1]);
  const mult = m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : m[2] === 'ms' ? 0.001 : 1;
  const s = n * mult;
  if (!(s > 0)) throw new UsageError(`${flag} must be > 0`);
  return s;
}

/** Tokens (default, with k/m suffixes) or blocks ('…b') → blocks. */
export function parseCapacityBlocks(v: string, blockSize: number): number {
  const m = /^(\d+)(b|k|m)?$/i.exec(v.trim());
  if (!m) throw new UsageError(`--capacity must be tokens (e.g. 200000, 200k, 1m) or blocks (e.g. 4096b), got ${JSON.stringify(v)}`);
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toLowerCase();
  if (unit === 'b') return n;
  const tokens = unit === 'k' ? n * 1000 : unit === 'm' ? n * 1_000_000 : n;
  return Math.max(1, Math.ceil(tokens / blockSize));
}

export function parseSweep(spec: string, blockSize: number): { param: SweepParam; values: number[] } {
  const m = /^(ttl|capacity)=(.+)$/.exec(spec.trim());
  if (!m) throw new UsageError(`--sweep must be ttl=60,300,3600 or capacity=100k,1m,… got ${JSON.stringify(spec)}`);
  const param = m[1] as SweepParam;
  const values = m[2]!.split(',').map((v) => (param === 'ttl' ? parseDurationS(v, '--sweep ttl') : parseCapacityBlocks(v, blockSize)));
  if (!values.length) throw new UsageError('--sweep needs at least one value');
  return { param, values };
}

/** Options every block-level command shares (simulate, export, report, ci). */
export interface BlockSourceCliOptions {
  sourceKind?: string;
  blockSize?: string;
  hash: string;
  tokenizer: string;
}

export interface SimCliOptions extends BlockSourceCliOptions {
  policy: string;
  scope: string;
  ttl: string;
  capacity?: string;
  writeAt: string;
  prewarm: boolean;
  lookback: string;
  prices?: string;
}

export function addBlockSourceOptions(cmd: Command): Command {
  return cmd
    .option('--source-kind <kind>', 'importer to use (default: auto-detect)')
    .option('--block-size <n>', 'tokens per block for content sources (default 64; vLLM 16, Mooncake 512)')
    .option('--hash <algo>', `block chain hash: ${HASH_ALGORITHMS.join('|')}`, 'xxh64')
    .option('--tokenizer <name>', 'tokenizer for content sources', DEFAULT_TOKENIZER);
}

export function addSimOptions(cmd: Command): Command {
  return addBlockSourceOptions(cmd)
    .option('--policy <name>', `cache policy: ${Object.keys(CACHE_POLICIES).join('|')}`, 'anthropic')
    .option('--scope <scope>', `cache sharing: ${CACHE_SCOPES.join('|')}`, 'global')
    .option('--ttl <dur>', 'TTL for ttl/anthropic: 5m, 1h or seconds', '5m')
    .option('--capacity <n>', 'lru capacity in tokens (suffix b for blocks, e.g. 4096b)')
    .option('--write-at <when>', 'when a request’s blocks become readable: prefill-end|start', 'prefill-end')
    .option('--lookback <n>', 'anthropic: content blocks looked back from each breakpoint', '20')
    .option('--no-prewarm', 'do not pre-load opaque prefixes the first API usage shows were already cached')
    .option('--prices <file>', PRICES_OPTION_HELP);
}

/** Block-source flags → the pipeline's typed options. */
export function blockSourceOptions(o: BlockSourceCliOptions): { sourceKind?: string; blockSize?: number; hash: HashAlgorithm; tokenizer: string } {
  if (!HASH_ALGORITHMS.includes(o.hash as HashAlgorithm)) throw new UsageError(`--hash must be one of ${HASH_ALGORITHMS.join(', ')}`);
  return { sourceKind: o.sourceKind, blockSize: parsePositiveInt(o.blockSize, '--block-size'), hash: o.hash as HashAlgorithm, tokenizer: o.tokenizer };
}

/** Simulation flags → SimSetup (validated; exit 2 on a bad flag). */
export function simSetup(o: SimCliOptions, blockSize: number): SimSetup {
  if (!CACHE_POLICIES[o.policy]) throw new UsageError(`unknown --policy "${o.policy}" (known: ${Object.keys(CACHE_POLICIES).join(', ')})`);
  if (!CACHE_SCOPES.includes(o.scope as CacheScope)) throw new UsageError(`--scope must be ${CACHE_SCOPES.join(' or ')}`);
  if (o.writeAt !== 'prefill-end' && o.writeAt !== 'start') throw new UsageError('--write-at must be prefill-end or start');
  const options: PolicyOptions = { ttlS: parseDurationS(o.ttl), lookback: parsePositiveInt(o.lookback, '--lookback') };
  if (o.capacity !== undefined) options.capacityBlocks = parseCapacityBlocks(o.capacity, blockSize);
  if (o.policy === 'lru' && options.capacityBlocks === undefined) throw new UsageError('--policy lru needs --capacity');
  return { policy: o.policy, options, scope: o.scope as CacheScope, writeAt: o.writeAt as WriteAt, prewarm: o.prewarm };
}
