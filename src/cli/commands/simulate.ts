import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import type { SimulationResult, SimulationTotals } from '../../analyze/cache/simulator.js';
import { sweep, type SweepResult } from '../../analyze/cache/sweep.js';
import { loadBlockSource, runSimulation, type LoadedBlockSource, type SimSetup } from '../../pipelines/block-source.js';
import { addSimOptions, blockSourceOptions, parseSweep, simSetup, type SimCliOptions } from '../options.js';
import { pipelineDeps } from '../context.js';
import { shortIds } from '../../shared/short-id.js';
import { printJson, table, fmtPct, fmtNum } from '../output.js';
import { fmtUsd } from '../../analyze/cost.js';
import { loadPriceTable } from '../../pipelines/prices.js';
import { resolveSourcePath } from '../../store/target.js';
import type { CorpusInfo } from '../../store/sources/index.js';

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
export function simulationJson(src: LoadedBlockSource, s: SimSetup, res: SimulationResult, withRequests: boolean, sw?: SweepResult & { prices?: { source: string; retrieved: string } }) {
  return {
    source: {
      path: src.path,
      kind: src.kind,
      level: src.level,
      block_size: src.blockSize,
      requests: src.requests.length,
      unique_blocks: src.uniqueBlocks,
      skipped: src.skipped,
      corpus: src.corpus,
    },
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
    ...(sw ? { sweep: { param: sw.param, policy: sw.policy, points: sw.points.map((p) => ({ value: p.value, hit_rate: p.hitRate, api_weighted_hit_rate: p.apiWeightedHitRate, ...(p.cost ? { cost_usd: p.cost.usd, uncached_usd: p.cost.uncachedUsd, write_rate: p.cost.writeRate, unpriced_requests: p.cost.unpricedRequests } : {}) })), ...(sw.prices ? { prices: sw.prices } : {}) } } : {}),
  };
}

/** The sweep table; a ttl sweep shows each TTL's simulated cost at its API write rate (5m or 1h) beside its hit rate. */
function renderSweep(sw: SweepResult & { prices?: { source: string; retrieved: string } }): string {
  if (sw.param !== 'ttl') {
    return table(['capacity (blocks)', 'sim hit', 'sim (API-weighted)'], sw.points.map((p) => [p.value, fmtPct(p.hitRate), fmtPct(p.apiWeightedHitRate)]), { title: `capacity sweep (${sw.policy})` });
  }
  const rate = (r: string | null | undefined) => (r === 'cacheWrite5m' ? '5m' : r === 'cacheWrite1h' ? '1h' : 'none');
  const unpriced = Math.max(0, ...sw.points.map((p) => p.cost?.unpricedRequests ?? 0));
  return table(
    ['ttl (s)', 'sim hit', 'sim (API-weighted)', 'write rate', 'sim cost', 'uncached'],
    sw.points.map((p) => [p.value, fmtPct(p.hitRate), fmtPct(p.apiWeightedHitRate), rate(p.cost?.writeRate), fmtUsd(p.cost?.usd), fmtUsd(p.cost?.uncachedUsd)]),
    { title: `ttl sweep (${sw.policy}); simulated cost at list prices (${sw.prices?.source ?? '-'}, ${sw.prices?.retrieved ?? '-'})${unpriced ? `, ${unpriced} requests of unpriced models left out` : ''}` },
  );
}

/** One line about a corpus directory: files, sessions, skipped files (named), the hash-id rule. */
export function corpusLine(c: CorpusInfo): string {
  const skipped = c.skipped_files.length ? `, ${c.skipped_files.length} skipped (${c.skipped_files.slice(0, 3).map((f) => f.file).join(', ')}${c.skipped_files.length > 3 ? ', …' : ''})` : '';
  const ns = c.hash_id_namespace === 'per-file' ? '; hash ids scoped per file' : '';
  return `corpus: ${c.files} file(s), ${c.sessions.length} session(s)${skipped}${ns}\n`;
}

interface SimulateCmdOptions extends SimCliOptions {
  sweep?: string;
  requests?: boolean;
  wide?: boolean;
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
    .option('--wide', 'full conversation ids (default: short unique prefixes)')
    .option('--json', 'print JSON')
    .action(async (path: string, o: SimulateCmdOptions) => {
      const src = await loadBlockSource(resolveSourcePath(path, ctx.cwd), blockSourceOptions(o), pipelineDeps(ctx));
      const s = simSetup(o, src.blockSize);
      const res = runSimulation(src, s, false, pipelineDeps(ctx));
      const sw = o.sweep ? (() => {
        const { param, values } = parseSweep(o.sweep!, src.blockSize);
        const prices = loadPriceTable(o.prices && resolve(ctx.cwd, o.prices));
        return { ...sweep(src.requests, param, values, { policy: s.policy, options: s.options, scope: s.scope, writeAt: s.writeAt, prices }), prices: { source: prices.source, retrieved: prices.retrieved } };
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
      if (src.corpus && src.corpus.files > 1) ctx.stdout(corpusLine(src.corpus));
      const short = o.wide ? null : shortIds(res.conversations.map((c) => c.conversationId));
      ctx.stdout(
        table(
          ['conversation', 'requests', 'tokens', 'sim hit', 'API hit', 'sim (API-weighted)', '|Δ| pp'],
          [...res.conversations.map((c) => row(short?.get(c.conversationId) ?? c.conversationId, c)), row('overall', res.overall)],
        ),
      );
      const reasons = Object.entries(res.overall.missReasons).map(([k, v]) => `${k} ${v}`).join(', ');
      if (reasons) ctx.stdout(`misses: ${reasons}\n`);
      if (sw) ctx.stdout(renderSweep(sw));
    });
};
