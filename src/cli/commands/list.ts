import type { Command } from 'commander';
import { resolve } from 'node:path';
import { pipelineDeps, type CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { loadAnalysis } from '../../pipelines/analysis.js';
import { summarize } from '../../analyze/analyze-requests.js';
import { fmtPct, printJson, table } from '../output.js';
import { fmtUsd, type CostSummary } from '../../analyze/cost.js';
import { loadPriceTable } from '../../pipelines/prices.js';
import { PRICES_OPTION_HELP } from '../options.js';
import { resolveSourcePath } from '../../store/target.js';
import { shortIds } from '../../shared/short-id.js';

interface ListOptions {
  jsonlDir?: string;
  sourceKind?: string;
  storeIndex: boolean;
  prices?: string;
  wide?: boolean;
  json?: boolean;
}

/** "cost $0.69 at list prices (caching saved $3.48); unpriced: m1, m2". */
function costLine(c: CostSummary): string {
  let s = c.total ? `cost ${fmtUsd(c.total.total)} at list prices (caching saved ${fmtUsd(c.total.saved)})` : 'no priced model';
  if (c.unpriced.length) s += `; unpriced: ${c.unpriced.map((u) => u.model).join(', ')}`;
  return s;
}

/**
 * `trace list <source>`: one row per conversation — id, start, requests, agents, models, API tokens, API hit rate.
 * --json: { source, kind, skipped, conversations: [{ conversationId, sessionId, startMs, endMs, requests, agents,
 * subagents, models, input, cacheRead, cacheCreation, output, context, tokenHitRate, costUsd }], cost } — costUsd at
 * list prices (null when no model of the conversation is priced); `cost` as in `trace analyze --json`.
 */
export const registerList: RegisterCommand = (program: Command, ctx: CliContext) => {
  program
    .command('list')
    .description('List the conversations of a trace (requests, agents, models, API tokens, cache hit rate)')
    .argument('<source>', 'requests.db, claude-code-proxy DB, anyclaude traces, or Claude Code JSONL (file/dir)')
    .option('--jsonl-dir <dir>', 'Claude Code JSONL to link a DB source by message id')
    .option('--source-kind <kind>', 'force the importer (trace-db, cc-proxy-db, anyclaude, claude-jsonl)')
    .option('--no-store-index', 'do not write the conversation_index table into a trace-db source')
    .option('--prices <file>', PRICES_OPTION_HELP)
    .option('--wide', 'full conversation ids (default: short unique prefixes)')
    .option('--json', 'print JSON')
    .action(async (sourceArg: string, opts: ListOptions) => {
      const loaded = await loadAnalysis(
        resolveSourcePath(sourceArg, ctx.cwd),
        { sourceKind: opts.sourceKind, jsonlDir: opts.jsonlDir && resolve(ctx.cwd, opts.jsonlDir), tokenizer: null, storeIndex: opts.storeIndex },
        pipelineDeps(ctx),
      );
      const r = summarize(loaded.facts, loaded.index, { prices: loadPriceTable(opts.prices && resolve(ctx.cwd, opts.prices)) });
      if (opts.json) {
        printJson(ctx, { source: loaded.source, kind: loaded.kind, skipped: loaded.stats.skipped, conversations: r.conversations, cost: r.cost });
        return;
      }
      const short = opts.wide ? null : shortIds(r.conversations.map((c) => c.conversationId));
      ctx.stdout(
        table(
          ['conversation', 'start', 'requests', 'agents', 'models', 'context tokens', 'output', 'API hit rate', 'cost'],
          r.conversations.map((c) => [
            short?.get(c.conversationId) ?? c.conversationId,
            c.startMs === null ? '-' : new Date(c.startMs).toISOString().replace('T', ' ').slice(0, 19),
            c.requests,
            c.subagents ? `${c.agents} (${c.subagents} sub)` : String(c.agents),
            c.models.join(', '),
            c.context,
            c.output,
            fmtPct(c.tokenHitRate),
            fmtUsd(c.costUsd),
          ]),
          { title: `${loaded.source} (${loaded.kind}): ${r.conversations.length} conversations, ${r.totals.requests} requests, ${costLine(r.cost)}` },
        ),
      );
    });
};
