import type { Command } from 'commander';
import chalk from 'chalk';
import { pipelineDeps, type CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { ANALYZE_DEFAULT_TOKENIZER, findRequest, loadAnalysis } from '../../pipelines/analysis.js';
import { cacheStatus } from '../../analyze/classify.js';
import type { ContentBlock } from '../../shared/anthropic.js';
import { contextTokens } from '../../shared/anthropic.js';
import { InputError, UsageError } from '../../shared/errors.js';
import { getTokenizer, TOKENIZERS } from '../../analyze/tokenizers/index.js';
import { TokenCounter } from '../../analyze/token-counter.js';
import { tokenBreakdown } from '../../analyze/token-breakdown.js';
import { normalizeSystem, stableStringify } from '../../analyze/normalize.js';
import { fmtMs, printJson, table } from '../output.js';
import { resolveSourcePath } from '../../store/target.js';

interface ShowOptions {
  verbose?: boolean;
  tokenizer: string;
  sourceKind?: string;
  json?: boolean;
}

function head(s: string, n: number): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > n ? one.slice(0, n) + '…' : one;
}

function blockSummary(b: ContentBlock, width: number): string {
  switch (b.type) {
    case 'text':
      return `text: ${head(String((b as { text?: string }).text ?? ''), width)}`;
    case 'thinking':
      return `thinking: ${head(String((b as { thinking?: string }).thinking ?? ''), width)}`;
    case 'tool_use': {
      const t = b as { name?: string; input?: unknown };
      return `tool_use ${t.name}: ${head(stableStringify(t.input ?? null), width)}`;
    }
    case 'tool_result': {
      const t = b as { content?: unknown; is_error?: boolean };
      const c = typeof t.content === 'string' ? t.content : stableStringify(t.content ?? '');
      return `tool_result${t.is_error ? ' (error)' : ''}: ${head(c, width)}`;
    }
    default:
      return `${b.type}: ${head(stableStringify(b), width)}`;
  }
}

/**
 * `trace show <source> <request-id> [-v]`: one request — meta, system prompt head, messages, tools, response,
 * usage, timing, cache status and its place in the conversation index. The id may also be the response
 * message id, or a unique prefix of either.
 */
export const registerShow: RegisterCommand = (program: Command, ctx: CliContext) => {
  program
    .command('show')
    .description('Show one request: meta, system prompt, messages, tools, response, usage, timing, cache status')
    .argument('<source>', 'requests.db, claude-code-proxy DB, anyclaude traces, or Claude Code JSONL (file/dir)')
    .argument('<request-id>', 'request id, response message id, or a unique prefix of either')
    .option('-v, --verbose', 'full texts instead of heads')
    .option('--tokenizer <name>', 'tokenizer for the token breakdown (claude, o200k, qwen3 = approximation, chars4)', ANALYZE_DEFAULT_TOKENIZER)
    .option('--source-kind <kind>', 'force the importer')
    .option('--json', 'print JSON')
    .action(async (sourceArg: string, wanted: string, opts: ShowOptions) => {
      if (!TOKENIZERS[opts.tokenizer]) throw new UsageError(`unknown tokenizer "${opts.tokenizer}"`);
      const path = resolveSourcePath(sourceArg, ctx.cwd);
      const deps = pipelineDeps(ctx);
      const r = await findRequest(path, wanted, { sourceKind: opts.sourceKind }, deps);
      const loaded = await loadAnalysis(path, { sourceKind: opts.sourceKind, tokenizer: null, storeIndex: false }, deps);
      const idx = loaded.index.requests.find((x) => x.id === r.id) ?? null;
      const breakdown = r.body ? tokenBreakdown(r.body, new TokenCounter(getTokenizer(opts.tokenizer))) : null;
      const width = opts.verbose ? Infinity : 160;
      const system = r.body ? normalizeSystem(r.body.system, { dropBillingLine: false }).map((b) => b.text) : [];
      const messages = (r.body?.messages ?? []).map((m) => ({
        role: m.role,
        blocks: (typeof m.content === 'string' ? [{ type: 'text', text: m.content } as ContentBlock] : m.content ?? []).map((b) => blockSummary(b, width)),
      }));
      const tools = (r.body?.tools ?? []).map((t) => ({ name: t.name, tokens: breakdown?.perTool[t.name] ?? null }));
      const out = {
        id: r.id,
        source: r.source,
        endpoint: r.endpoint,
        model: r.model,
        sessionId: r.sessionId,
        isStreaming: r.isStreaming,
        status: r.status,
        error: r.error,
        bodyComplete: r.bodyComplete,
        startedAt: r.startedAtMs === null ? null : new Date(r.startedAtMs).toISOString(),
        timing: { ttftMs: r.ttftMs, apiTimeMs: idx?.apiTimeMs ?? r.durationMs, thinkTimeMs: idx?.thinkTimeMs ?? null },
        usage: r.usage,
        contextTokens: r.usage ? contextTokens(r.usage) : null,
        cacheStatus: cacheStatus(r),
        stopReason: r.stopReason,
        messageId: r.messageId,
        index: idx,
        system: opts.verbose ? system : system.map((s) => head(s, 300)),
        messages,
        tools,
        response: (r.response?.content ?? []).map((b) => blockSummary(b, width)),
        breakdown: breakdown ? { tokenizer: opts.tokenizer, ...breakdown } : null,
      };
      if (opts.json) {
        printJson(ctx, out);
        return;
      }
      let s = chalk.bold(`request ${r.id}`) + ` (${r.source})\n`;
      s += table(
        ['field', 'value'],
        [
          ['endpoint', `${r.method} ${r.endpoint}`],
          ['model', r.model ?? '-'],
          ['session', r.sessionId ?? '-'],
          ['started', out.startedAt ?? '-'],
          ['streaming', r.isStreaming === null ? '-' : String(r.isStreaming)],
          ['status', r.status === null ? '-' : String(r.status)],
          ['error', r.error ?? '-'],
          ['conversation / agent / turn', idx ? `${idx.conversationId} / ${idx.agentId} / ${idx.turnIndex}` : '-'],
          ['kind', idx ? `${idx.kind}${idx.side ? ` (${idx.side})` : ''}${idx.duplicateOf ? `, duplicate of ${idx.duplicateOf}` : ''}` : '-'],
          ['ttft / api time / think time', `${fmtMs(r.ttftMs)} / ${fmtMs(out.timing.apiTimeMs)} / ${fmtMs(out.timing.thinkTimeMs)}`],
          ['usage (new / read / created / out)', r.usage ? `${r.usage.input_tokens} / ${r.usage.cache_read_input_tokens} / ${r.usage.cache_creation_input_tokens} / ${r.usage.output_tokens}` : '-'],
          ['cache status', out.cacheStatus ?? '-'],
          ['stop reason', r.stopReason ?? '-'],
          ['prompt tokens (ours)', breakdown ? `${breakdown.total} (${opts.tokenizer}; tools ${breakdown.tools}, system ${breakdown.system}, messages ${breakdown.messages})` : '-'],
        ],
      );
      if (!r.bodyComplete) s += chalk.yellow('tools/system are not in this source (body incomplete)\n');
      s += chalk.bold('\nsystem\n') + out.system.map((x, i) => `  [${i}] ${x}`).join('\n') + '\n';
      s += chalk.bold(`\nmessages (${messages.length})\n`);
      messages.forEach((m, i) => {
        s += `  #${i} ${m.role}\n` + m.blocks.map((b) => `      ${b}`).join('\n') + '\n';
      });
      s += chalk.bold(`\ntools (${tools.length})\n`) + (tools.length ? '  ' + tools.map((t) => `${t.name}${t.tokens !== null ? ` (${t.tokens})` : ''}`).join(', ') + '\n' : '');
      s += chalk.bold('\nresponse\n') + out.response.map((x) => `  ${x}`).join('\n') + '\n';
      ctx.stdout(s);
    });
};
