import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { UsageError } from '../../shared/errors.js';
import { openSource } from '../../store/sources/index.js';
import { getTokenizer, DEFAULT_TOKENIZER } from '../../analyze/tokenizers/index.js';
import { blockRequestsOf, type BlockSource } from '../../analyze/blocks/from-source.js';
import { HASH_ALGORITHMS, type HashAlgorithm } from '../../analyze/blocks/chain-hash.js';
import { CACHE_POLICIES, createPolicy, type PolicyOptions } from '../../analyze/cache/index.js';
import { simulate, CACHE_SCOPES, type CacheScope, type SimulationResult, type SimulationTotals, type WriteAt } from '../../analyze/cache/simulator.js';
import { sweep, type SweepParam, type SweepResult } from '../../analyze/cache/sweep.js';
import { printJson, table, fmtPct, fmtNum } from '../output.js';

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
    .option('--no-prewarm', 'do not pre-load opaque prefixes the first API usage shows were already cached');
}

export function parsePositiveInt(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

/** '5m' → 300, '1h' → 3600, '90s'/'90' → 90. */
export function parseDurationS(v: string, flag = '--ttl'): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new UsageError(`${flag} must look like 300, 90s, 5m or 1h, got ${JSON.stringify(v)}`);
  const n = Number(m[1]);
  const mult = m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : m[2] === 'ms' ? 0.001 : 1;
  const s = n * mult;
  if (!(s > 0)) throw new UsageError(`${flag} must be > 0`);
  return s;
}

/** Tokens (default) or blocks ('…b') → blocks. */
export function parseCapacityBlocks(v: string, blockSize: number): number {
  const m = /^(\d+)(b|k|m)?$/i.exec(v.trim());
  if (!m) throw new UsageError(`--capacity must be tokens (e.g. 200000, 200k, 1m) or blocks (e.g. 4096b), got ${JSON.stringify(v)}`);
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toLowerCase();
  if (unit === 'b') return n;
  const tokens = unit === 'k' ? n * 1000 : unit === 'm' ? n * 1_000_000 : n;
  return Math.max(1, Math.ceil(tokens / blockSize));
}

export async function loadBlockSource(ctx: CliContext, path: string, o: BlockSourceCliOptions, salt = ''): Promise<BlockSource & { path: string }> {
  if (!HASH_ALGORITHMS.includes(o.hash as HashAlgorithm)) throw new UsageError(`--hash must be one of ${HASH_ALGORITHMS.join(', ')}`);
  const blockSize = parsePositiveInt(o.blockSize, '--block-size');
  const tokenizer = getTokenizer(o.tokenizer);
  const full = resolve(ctx.cwd, path);
  const src = openSource(full, { logger: ctx.logger, kind: o.sourceKind });
  try {
    const bs = await blockRequestsOf(src, { tokenizer, hash: o.hash as HashAlgorithm, blockSize, salt });
    return { ...bs, path: full };
  } finally {
    src.close();
  }
}

export interface SimSetup {
  policy: string;
  options: PolicyOptions;
  scope: CacheScope;
  writeAt: WriteAt;
  prewarm: boolean;
}

export function simSetup(o: SimCliOptions, blockSize: number): SimSetup {
  if (!CACHE_POLICIES[o.policy]) throw new UsageError(`unknown --policy "${o.policy}" (known: ${Object.keys(CACHE_POLICIES).join(', ')})`);
  if (!CACHE_SCOPES.includes(o.scope as CacheScope)) throw new UsageError(`--scope must be ${CACHE_SCOPES.join(' or ')}`);
  if (o.writeAt !== 'prefill-end' && o.writeAt !== 'start') throw new UsageError('--write-at must be prefill-end or start');
  const options: PolicyOptions = { ttlS: parseDurationS(o.ttl), lookback: parsePositiveInt(o.lookback, '--lookback') };
  if (o.capacity !== undefined) options.capacityBlocks = parseCapacityBlocks(o.capacity, blockSize);
  if (o.policy === 'lru' && options.capacityBlocks === undefined) throw new UsageError('--policy lru needs --capacity');
  return { policy: o.policy, options, scope: o.scope as CacheScope, writeAt: o.writeAt as WriteAt, prewarm: o.prewarm };
}

export function runSimulation(src: BlockSource, s: SimSetup, trackWorkingSet = false): SimulationResult {
  return simulate(src.requests, { policy: createPolicy(s.policy, s.options), scope: s.scope, writeAt: s.writeAt, prewarm: s.prewarm, trackWorkingSet });
}

export function parseSweep(spec: string, blockSize: number): { param: SweepParam; values: number[] } {
  const m = /^(ttl|capacity)=(.+)$/.exec(spec.trim());
  if (!m) throw new UsageError(`--sweep must be ttl=60,300,3600 or capacity=100k,1m,… got ${JSON.stringify(spec)}`);
  const param = m[1] as SweepParam;
  const values = m[2]!.split(',').map((v) => (param === 'ttl' ? parseDurationS(v, '--sweep ttl') : parseCapacityBlocks(v, blockSize)));
  if (!values.length) throw new UsageError('--sweep needs at least one value');
  return { param, values };
}

function totalsJson(t: SimulationTotals) {
  return {
    requests: t.requests,
    input_tokens: t.inputTokens,
    read_tokens: t.readTokens,
    creation_tokens: t.creationTokens,
    uncached_tokens: t.uncachedTokens,
    sim_hit_rate: t.hitRate,
    api_requests: t.apiRequests,
    api_context_tokens: t.apiContextTokens,
    api_read_tokens: t.apiReadTokens,
    api_hit_rate: t.apiHitRate,
    sim_hit_rate_on_api: t.simHitRateOnApi,
    accuracy_pp: t.accuracyPp,
    miss_reasons: t.missReasons,
  };
}

/** The stable --json shape of `trace simulate` (documented in docs/simulate.md). */
export function simulationJson(src: BlockSource & { path: string }, s: SimSetup, res: SimulationResult, withRequests: boolean, sw?: SweepResult) {
  return {
    source: { path: src.path, kind: src.kind, level: src.level, block_size: src.blockSize, requests: src.requests.length, unique_blocks: src.uniqueBlocks },
    policy: res.policy,
    scope: res.scope,
    write_at: res.writeAt,
    ttl_s: s.options.ttlS ?? null,
    capacity_blocks: s.options.capacityBlocks ?? null,
    prewarm: s.prewarm,
    overall: totalsJson(res.overall),
    conversations: res.conversations.map((c) => ({ conversation_id: c.conversationId, ...totalsJson(c) })),
    agents: res.agents.map((a) => ({ agent_id: a.agentId, conversation_id: a.conversationId, parent_agent_id: a.parentAgentId, ...totalsJson(a) })),
    ...(withRequests
      ? {
          requests: res.requests.map((r) => ({
            id: r.id,
            conversation_id: r.conversationId,
            agent_id: r.agentId,
            t: r.t,
            written_at: r.writtenAt,
            model: r.model,
            input_tokens: r.inputTokens,
            read_tokens: r.readTokens,
            creation_tokens: r.creationTokens,
            uncached_tokens: r.uncachedTokens,
            hit_rate: r.hitRate,
            reuse_distance_s: r.reuseDistanceS,
            miss: r.miss,
            api: r.api
              ? { context_tokens: r.api.contextTokens, read_tokens: r.api.readTokens, creation_tokens: r.api.creationTokens, uncached_tokens: r.api.uncachedTokens, hit_rate: r.api.hitRate, error_pp: r.api.errorPp }
              : null,
          })),
        }
      : {}),
    ...(sw ? { sweep: { param: sw.param, policy: sw.policy, points: sw.points.map((p) => ({ value: p.value, hit_rate: p.hitRate, api_weighted_hit_rate: p.apiWeightedHitRate })) } } : {}),
  };
}

interface SimulateCmdOptions extends SimCliOptions {
  sweep?: string;
  requests?: boolean;
  json?: boolean;
}

/**
 * `trace simulate <source>`: replays a source's block requests through a cache policy; prints simulated vs API hit
 * rate per conversation and overall (token-weighted) and the accuracy in percentage points.
 */
export const registerSimulate: RegisterCommand = (program: Command, ctx: CliContext) => {
  addSimOptions(
    program
      .command('simulate')
      .description('Simulate the prefix cache over a source and compare with the hit rate the API reported')
      .argument('<source>', 'trace source (requests.db, Claude Code JSONL, kv-cache-tester JSON, Mooncake JSONL, …)'),
  )
    .option('--sweep <spec>', 'hit-rate curve: ttl=60,300,3600 or capacity=100k,1m,4096b')
    .option('--requests', 'include per-request rows (with --json)')
    .option('--json', 'print JSON')
    .action(async (path: string, o: SimulateCmdOptions) => {
      const src = await loadBlockSource(ctx, path, o);
      const s = simSetup(o, src.blockSize);
      const res = runSimulation(src, s);
      const sw = o.sweep ? (() => {
        const { param, values } = parseSweep(o.sweep!, src.blockSize);
        return sweep(src.requests, param, values, { policy: s.policy, options: s.options, scope: s.scope, writeAt: s.writeAt });
      })() : undefined;
      if (o.json) return printJson(ctx, simulationJson(src, s, res, Boolean(o.requests), sw));
      const row = (name: string, t: SimulationTotals) => [
        name,
        t.requests,
        fmtNum(t.inputTokens),
        fmtPct(t.hitRate),
        fmtPct(t.apiHitRate),
        fmtPct(t.simHitRateOnApi),
        t.accuracyPp === null ? '-' : t.accuracyPp.toFixed(2),
      ];
      ctx.stdout(
        `${src.kind} ${src.path}: ${src.requests.length} requests, block size ${src.blockSize}, ${src.uniqueBlocks} unique blocks; policy ${res.policy}, scope ${res.scope}, write at ${res.writeAt}\n`,
      );
      ctx.stdout(
        table(
          ['conversation', 'requests', 'tokens', 'sim hit', 'API hit', 'sim (API-weighted)', '|Δ| pp'],
          [...res.conversations.map((c) => row(c.conversationId, c)), row('overall', res.overall)],
        ),
      );
      const reasons = Object.entries(res.overall.missReasons).map(([k, v]) => `${k} ${v}`).join(', ');
      if (reasons) ctx.stdout(`misses: ${reasons}\n`);
      if (sw) ctx.stdout(table([sw.param === 'ttl' ? 'ttl (s)' : 'capacity (blocks)', 'sim hit', 'sim (API-weighted)'], sw.points.map((p) => [p.value, fmtPct(p.hitRate), fmtPct(p.apiWeightedHitRate)]), { title: `${sw.param} sweep (${sw.policy})` }));
    });
};
