import { resolve } from 'node:path';
import type { Command } from 'commander';
import chalk from 'chalk';
import { pipelineDeps, type CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { summarize, type AnalysisResult } from '../../analyze/analyze-requests.js';
import { ANALYZE_DEFAULT_TOKENIZER, loadAnalysis, loadRounds } from '../../pipelines/analysis.js';
import type { RoundsSummary } from '../../analyze/rounds-summary.js';
import { UsageError } from '../../shared/errors.js';
import { shortIds } from '../../shared/short-id.js';
import { fmtMs, fmtPct, printJson, table } from '../output.js';
import { fmtUsd, type CostSummary } from '../../analyze/cost.js';
import { loadPriceTable } from '../../pipelines/prices.js';
import { PRICES_OPTION_HELP } from '../options.js';
import { resolveSourcePath } from '../../store/target.js';

const TOP_TOOLS = 10;

interface AnalyzeCliOptions {
  wide?: boolean;
  jsonlDir?: string;
  conversation?: string;
  tokenizer: string;
  sourceKind?: string;
  storeIndex: boolean;
  prices?: string;
  json?: boolean;
}

/** The cost table: per model and total at list prices, what caching saved, unpriced models named. */
export function renderCost(c: CostSummary): string {
  const rows: (string | number)[][] = c.perModel.map((m) => [
    m.model, m.requests, fmtUsd(m.usd.input), fmtUsd(m.usd.cacheWrite5m + m.usd.cacheWrite1h), fmtUsd(m.usd.cacheRead), fmtUsd(m.usd.output), fmtUsd(m.usd.total), fmtUsd(m.usd.uncached), fmtUsd(m.usd.saved),
  ]);
  if (c.total && c.perModel.length > 1) {
    const t = c.total;
    rows.push(['total', c.perModel.reduce((n, m) => n + m.requests, 0), fmtUsd(t.input), fmtUsd(t.cacheWrite5m + t.cacheWrite1h), fmtUsd(t.cacheRead), fmtUsd(t.output), fmtUsd(t.total), fmtUsd(t.uncached), fmtUsd(t.saved)]);
  }
  for (const u of c.unpriced) rows.push([u.model, u.requests, 'unpriced', '-', '-', '-', '-', '-', '-']);
  let title = `Cost at list prices (${c.prices.source}, ${c.prices.retrieved}; priced from the API's usage)`;
  if (c.cacheWriteTtlUnknownTokens > 0) title += ` — ${c.cacheWriteTtlUnknownTokens} cache-write tokens without a 5m/1h split priced at the 5m rate`;
  return table(['model', 'requests', 'input', 'cache write', 'cache read', 'output', 'cost', 'uncached', 'caching saved'], rows, { title });
}


/** The kinds shown as their own summary columns (side and error requests have theirs). */
const OWN_KINDS = (byKind: Record<string, number>) => Object.keys(byKind).filter((k) => k !== 'side' && k !== 'error');

export function renderAnalysis(r: AnalysisResult, header: string, opts: { wide?: boolean } = {}): string {
  // The header's first line titles the summary table (one line less); its other lines follow it.
  const [first, ...more] = header.split('\n');
  let s = more.length ? chalk.bold(more.join('\n')) + '\n' : '';
  const t = r.totals;
  const kinds = OWN_KINDS(t.byKind);
  s += table(
    ['requests', kinds.join(' / '), 'conversations', 'agents (main+sub)', 'sub-agent reqs', 'side', 'errors', 'duplicates', 'cache hits'],
    [[t.requests, kinds.map((k) => t.byKind[k as keyof typeof t.byKind]).join(' / '), t.conversations, `${t.agents} (${t.mainAgents}+${t.subagents})`, t.subagentRequests, t.sideRequests, t.errors, t.duplicates, `${r.cache.hits}/${r.cache.requestsWithUsage}`]],
    { title: `Summary — ${first}` },
  );
  const u = r.tokens;
  s += table(
    ['model', 'requests', 'new input', 'cache read', 'cache created', 'context', 'output', 'hit rate'],
    [
      ...r.perModel.map((m) => [m.model, m.requests, m.input, m.cacheRead, m.cacheCreation, m.context, m.output, fmtPct(m.tokenHitRate)]),
      ...(r.perModel.length > 1 ? [['all', t.requests, u.input, u.cacheRead, u.cacheCreation, u.context, u.output, fmtPct(r.cache.tokenHitRate)]] : []),
    ],
    { title: 'Tokens as reported by the API, per model' },
  );
  const short = opts.wide ? null : shortIds(r.perAgent.flatMap((a) => [a.agentId, a.parentAgentId ?? '']));
  const id = (x: string) => short?.get(x) ?? x;
  s += table(
    ['agent', 'parent', 'role', 'requests', 'models', 'context', 'output'],
    r.perAgent.map((a) => [id(a.agentId), a.parentAgentId ? id(a.parentAgentId) : '-', a.isSide ? 'side' : a.isSubagent ? 'sub-agent' : 'main', a.requests, a.models.join(', '), a.context, a.output]),
    { title: `Per agent${opts.wide ? '' : ' (short ids; --wide for full ones)'}` },
  );
  const d = (x: AnalysisResult['timing']['ttftMs']) => [x.n, fmtMs(x.p50), fmtMs(x.p90), fmtMs(x.p99), fmtMs(x.max)];
  s += table(['timing', 'n', 'p50', 'p90', 'p99', 'max'], [['ttft', ...d(r.timing.ttftMs)], ['api time', ...d(r.timing.apiTimeMs)], ['think time', ...d(r.timing.thinkTimeMs)]], {
    title: 'Timing',
  });
  const j = r.jobs.total;
  if (j) {
    const pc = (v: number) => (j.completion_ms > 0 ? ` (${((100 * v) / j.completion_ms).toFixed(0)} %)` : '');
    s += table(['sessions', 'completion', 'model time', 'tool time', 'user pause', 'other gaps'], [
      [r.jobs.sessions.length, fmtMs(j.completion_ms), fmtMs(j.model_ms) + pc(j.model_ms), fmtMs(j.tool_ms) + pc(j.tool_ms), fmtMs(j.user_ms) + pc(j.user_ms), fmtMs(j.other_ms) + pc(j.other_ms)],
    ], { title: 'Recorded job time (first send → last response end, summed over sessions)' });
  }
  const b = r.breakdown;
  if (b) {
    const sc = b.scaled;
    const rows: (string | number)[][] = [
      ['tools', b.tools, sc ? sc.tools : '-'],
      ['system', b.system, sc ? sc.system : '-'],
      ...Object.entries(b.byRoleBlock).sort((x, y) => y[1] - x[1]).map(([kk, v]) => [`  ${kk}`, v, sc ? (sc.byRoleBlock[kk] ?? 0) : '-']),
      ['messages', b.messages, sc ? sc.messages : '-'],
      ['total', b.total, sc ? sc.total : '-'],
    ];
    s += table([`prompt (${b.tokenizer})`, 'our count', 'scaled to API'], rows, {
      title: `Token breakdown — calibration API/ours = ${b.calibration.ratio === null ? '- (no complete body with usage)' : b.calibration.ratio.toFixed(3)} over ${b.calibration.requests} requests`,
    });
  }
  s += renderCost(r.cost);
  if (r.biggestTools.length) {
    const shown = opts.wide ? r.biggestTools : r.biggestTools.slice(0, TOP_TOOLS);
    const more = r.biggestTools.length - shown.length;
    s += table(['tool', 'tokens', 'in requests', 'total tokens'], shown.map((x) => [x.name, x.tokens, x.requests, x.totalTokens]), {
      title: `Biggest tools${more > 0 ? ` (top ${shown.length}; ${more} more with --wide or --json)` : ''}`,
    });
  }
  return s;
}

/** `trace analyze` of round traces (TraceLab): sessions with Claude's recorded split, and the recorded gaps. */
export function renderRounds(r: RoundsSummary, header: string): string {
  let s = chalk.bold(header) + '\n\n';
  s += table(
    ['session', 'provider', 'rounds', 'prompt tokens', 'output', 'uncached', 'cache created', 'cache read', 'recorded hit'],
    r.sessions.map((x) => [x.session_id, x.provider ?? '-', x.rounds, x.prompt_tokens, x.output_tokens, x.claude?.uncached ?? '-', x.claude?.cache_creation ?? '-', x.claude?.cache_read ?? '-', x.claude ? fmtPct(x.claude.hit_rate) : '-']),
    { title: "Sessions (Claude's recorded cache split)" },
  );
  const sec = (v: number | null) => (v === null ? '-' : `${v.toFixed(1)} s`);
  const t = r.job.total;
  const g = (name: string, d: RoundsSummary['tool_gaps_s'], totalMs: number | undefined) => [name, d.n, sec(d.p50), sec(d.p90), sec(d.max), sec(totalMs === undefined ? null : totalMs / 1000)];
  s += table(['gap before a round', 'n', 'p50', 'p90', 'max', 'total'], [g('tool time', r.tool_gaps_s, t?.tool_ms), g('user pause', r.user_gaps_s, t?.user_ms)], {
    title: `Think time (recorded)${t ? ` — of ${sec(t.completion_ms / 1000)} in total, model ${sec(t.model_ms / 1000)}` : ''}`,
  });
  const f = r.first_output_s;
  s += table(['first output event', 'n', 'p50', 'p90', 'max'], [['after send', f.n, sec(f.p50), sec(f.p90), sec(f.max)]]);
  return s;
}

export const registerAnalyze: RegisterCommand = (program: Command, ctx: CliContext) => {
  program
    .command('analyze')
    .description('Summarise a trace: conversations, agents, API token usage & cache hits, timing, token breakdown')
    .argument('<source>', 'requests.db, claude-code-proxy DB, anyclaude traces, or Claude Code JSONL (file/dir)')
    .option('--jsonl-dir <dir>', 'Claude Code JSONL to link a DB source by message id (else structural linking)')
    .option('--conversation <id>', 'restrict the summary to one conversation')
    .option(
      '--tokenizer <name>',
      `token breakdown tokenizer: claude (Anthropic's legacy BPE, default), o200k, qwen3 (APPROXIMATION: o200k + per-digit split, no Qwen vocabulary available), chars4 (len/4)`,
      ANALYZE_DEFAULT_TOKENIZER,
    )
    .option('--source-kind <kind>', 'force the importer (trace-db, cc-proxy-db, anyclaude, claude-jsonl)')
    .option('--no-store-index', 'do not write the conversation_index table into a trace-db source')
    .option('--prices <file>', PRICES_OPTION_HELP)
    .option('--wide', 'full ids and every tool (default: short unique id prefixes, top tools)')
    .option('--json', 'print the result as JSON')
    .action(async (sourceArg: string, opts: AnalyzeCliOptions) => {
      const rounds = loadRounds(resolveSourcePath(sourceArg, ctx.cwd), { sourceKind: opts.sourceKind }, pipelineDeps(ctx));
      if (rounds) {
        if (opts.json) return printJson(ctx, { source: rounds.source, kind: rounds.kind, skipped: rounds.skipped, ...rounds.summary });
        return ctx.stdout(renderRounds(rounds.summary, `${rounds.source} (${rounds.kind}: round traces, no content)`));
      }
      const loaded = await loadAnalysis(
        resolveSourcePath(sourceArg, ctx.cwd),
        { sourceKind: opts.sourceKind, jsonlDir: opts.jsonlDir && resolve(ctx.cwd, opts.jsonlDir), tokenizer: opts.tokenizer, storeIndex: opts.storeIndex },
        pipelineDeps(ctx),
      );
      if (opts.conversation && !loaded.index.conversations.some((c) => c.conversationId === opts.conversation)) {
        throw new UsageError(`no conversation "${opts.conversation}" in ${sourceArg}`);
      }
      const prices = loadPriceTable(opts.prices && resolve(ctx.cwd, opts.prices));
      const result = summarize(loaded.facts, loaded.index, { conversationId: opts.conversation, counter: loaded.counter ?? undefined, prices });
      if (opts.json) {
        printJson(ctx, {
          source: loaded.source,
          kind: loaded.kind,
          skipped: loaded.stats.skipped,
          conversation: opts.conversation ?? null,
          jsonl: loaded.jsonl,
          indexStored: loaded.indexStored,
          ...result,
        });
        return;
      }
      let header = `${loaded.source} (${loaded.kind})`;
      if (loaded.stats.skipped) header += ` — ${loaded.stats.skipped} malformed records skipped`;
      if (loaded.jsonl) header += `\nJSONL: ${loaded.jsonl.matched}/${loaded.jsonl.calls} API calls matched by message id`;
      if (opts.conversation) header += `\nconversation ${opts.conversation}`;
      ctx.stdout(renderAnalysis(result, header, { wide: opts.wide }));
    });
};
