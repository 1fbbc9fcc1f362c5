import { resolve } from 'node:path';
import type { Command } from 'commander';
import chalk from 'chalk';
import { pipelineDeps, type CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { summarize, type AnalysisResult } from '../../analyze/analyze-requests.js';
import { ANALYZE_DEFAULT_TOKENIZER, loadAnalysis } from '../../pipelines/analysis.js';
import { UsageError } from '../../shared/errors.js';
import { fmtMs, fmtPct, printJson, table } from '../output.js';

interface AnalyzeCliOptions {
  jsonlDir?: string;
  conversation?: string;
  tokenizer: string;
  sourceKind?: string;
  storeIndex: boolean;
  json?: boolean;
}


export function renderAnalysis(r: AnalysisResult, header: string): string {
  let s = chalk.bold(header) + '\n\n';
  const t = r.totals;
  s += table(
    ['requests', 'conversations', 'agents (main+sub)', 'side', 'errors', 'duplicates', 'cache hits'],
    [[t.requests, t.conversations, `${t.agents} (${t.mainAgents}+${t.subagents})`, t.sideRequests, t.errors, t.duplicates, `${r.cache.hits}/${r.cache.requestsWithUsage}`]],
    { title: 'Summary' },
  );
  s += table(['kind', ...Object.keys(t.byKind), 'sub-agent requests'], [['requests', ...Object.values(t.byKind), t.subagentRequests]]);
  const u = r.tokens;
  s += table(
    ['API usage', 'new input', 'cache read', 'cache created', 'context', 'output', 'hit rate'],
    [['tokens', u.input, u.cacheRead, u.cacheCreation, u.context, u.output, fmtPct(r.cache.tokenHitRate)]],
    { title: 'Tokens (as reported by the API)' },
  );
  s += table(
    ['model', 'requests', 'new input', 'cache read', 'cache created', 'output', 'hit rate'],
    r.perModel.map((m) => [m.model, m.requests, m.input, m.cacheRead, m.cacheCreation, m.output, fmtPct(m.tokenHitRate)]),
    { title: 'Per model' },
  );
  s += table(
    ['agent', 'parent', 'role', 'requests', 'models', 'context', 'output'],
    r.perAgent.map((a) => [a.agentId, a.parentAgentId ?? '-', a.isSide ? 'side' : a.isSubagent ? 'sub-agent' : 'main', a.requests, a.models.join(', '), a.context, a.output]),
    { title: 'Per agent' },
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
  if (r.biggestTools.length) {
    s += table(['tool', 'tokens', 'in requests', 'total tokens'], r.biggestTools.map((x) => [x.name, x.tokens, x.requests, x.totalTokens]), { title: 'Biggest tools' });
  }
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
    .option('--json', 'print the result as JSON')
    .action(async (sourceArg: string, opts: AnalyzeCliOptions) => {
      const loaded = await loadAnalysis(
        resolve(ctx.cwd, sourceArg),
        { sourceKind: opts.sourceKind, jsonlDir: opts.jsonlDir && resolve(ctx.cwd, opts.jsonlDir), tokenizer: opts.tokenizer, storeIndex: opts.storeIndex },
        pipelineDeps(ctx),
      );
      if (opts.conversation && !loaded.index.conversations.some((c) => c.conversationId === opts.conversation)) {
        throw new UsageError(`no conversation "${opts.conversation}" in ${sourceArg}`);
      }
      const result = summarize(loaded.facts, loaded.index, { conversationId: opts.conversation, counter: loaded.counter ?? undefined });
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
      ctx.stdout(renderAnalysis(result, header));
    });
};
