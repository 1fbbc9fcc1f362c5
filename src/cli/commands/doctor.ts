/**
 * `trace doctor --endpoint URL`: checks an Anthropic- or OpenAI-compatible inference server (prefix cache,
 * tool round trip, stream format, usage fields, TTFT). One PASS/FAIL line per point; exit 1 on any failure.
 */
import { Option, type Command } from 'commander';
import chalk from 'chalk';
import { FailedError, UsageError } from '../../shared/errors.js';
import { runDoctor, type DoctorApi } from '../../doctor/doctor.js';
import type { CliContext } from '../context.js';
import { fmtMs, printJson, table } from '../output.js';
import type { RegisterCommand } from './index.js';
import { intArg } from '../options.js';


export const registerDoctor: RegisterCommand = (program: Command, ctx: CliContext) => {
  program
    .command('doctor')
    .description('Check an inference server: prefix cache (3 requests), tool round trip, stream format, usage fields, TTFT')
    .requiredOption('--endpoint <url>', 'server base URL (e.g. http://127.0.0.1:8080)')
    .addOption(new Option('--api <api>', 'API to speak').choices(['anthropic', 'openai']).default('anthropic'))
    .option('--model <id>', 'model id to request (default: first of GET /v1/models)')
    .option('--max-tokens <n>', 'max_tokens per request', intArg('--max-tokens', 1), 32)
    .option('--prefix-chars <n>', 'length of the shared system prompt in characters', intArg('--prefix-chars', 100), 6000)
    .option('--timeout-ms <n>', 'per-request timeout', intArg('--timeout-ms', 1), 120_000)
    .option('--json', 'print the report as JSON')
    .action(async (o: { endpoint: string; api: DoctorApi; model?: string; maxTokens: number; prefixChars: number; timeoutMs: number; json?: boolean }) => {
      try {
        new URL(o.endpoint);
      } catch {
        throw new UsageError(`--endpoint ${o.endpoint} is not a URL`);
      }
      const apiKey = o.api === 'anthropic' ? ctx.env.ANTHROPIC_API_KEY : ctx.env.OPENAI_API_KEY;
      const report = await runDoctor({
        endpoint: o.endpoint,
        api: o.api,
        ...(o.model !== undefined ? { model: o.model } : {}),
        ...(apiKey ? { apiKey } : {}),
        fetch: globalThis.fetch,
        clock: ctx.clock,
        maxTokens: o.maxTokens,
        prefixChars: o.prefixChars,
        timeoutMs: o.timeoutMs,
        onRequest: (r) => ctx.logger.debug(`${r.label}: HTTP ${r.status ?? '-'} ttft ${fmtMs(r.ttftMs)}`),
      });
      const failure = report.ok ? null : new FailedError(`${report.checks.filter((c) => !c.ok).length} check(s) failed on ${report.endpoint}`);
      if (o.json) {
        printJson(ctx, report);
        if (failure) throw failure;
        return;
      }
      ctx.stdout(`doctor ${report.endpoint} (${report.api}, model ${report.model})\n`);
      for (const c of report.checks) ctx.stdout(`${c.ok ? chalk.green('PASS') : chalk.red('FAIL')} ${c.name}: ${c.detail}\n`);
      ctx.stdout(
        table(
          ['request', 'status', 'TTFT', 'total', 'prompt', 'cache read', 'cache created', 'output', 'stop'],
          report.requests.map((r) => [r.label, r.status ?? '-', fmtMs(r.ttftMs), fmtMs(r.totalMs), r.promptTokens ?? '-', r.cacheReadTokens ?? '-', r.cacheCreationTokens ?? '-', r.outputTokens ?? '-', r.stopReason ?? '-']),
        ),
      );
      ctx.stdout(report.ok ? 'all checks passed\n' : `${report.checks.filter((c) => !c.ok).length} check(s) failed\n`);
      if (failure) throw failure;
    });
};
