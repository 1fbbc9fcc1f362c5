import { resolve } from 'node:path';
import type { Command } from 'commander';
import { Agent } from 'undici';
import type { CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { optionalNumber } from '../options.js';
import { FailedError, UsageError } from '../../shared/errors.js';
import { createProgress, fmtMs, fmtNum, fmtPct, printJson, table } from '../output.js';
import { getBackend } from '../../replay/backends/index.js';
import { undiciTransport } from '../../replay/transport.js';
import { loadPlan } from '../../replay/load-plan.js';
import { runReplay } from '../../replay/runner.js';
import { writeResult } from '../../replay/results.js';
import { getTokenizer } from '../../analyze/tokenizers/index.js';
import type { ContentMode, TimingMode } from '../../replay/types.js';
import type { RunSummary } from '../../replay/metrics.js';
import { resolveSourcePath } from '../../store/target.js';

interface ReplayCliOptions {
  endpoint?: string;
  api: string;
  model?: string;
  out: string;
  conversation?: string;
  timing: string;
  speed: string;
  content: string;
  maxConcurrency: string;
  maxTokens: string;
  sloTtft?: string;
  sloTpot?: string;
  sourceKind?: string;
  tokenizer?: string;
  blockSize?: string;
  apiKey?: string;
  label?: string;
  json?: boolean;
}

const num = (name: string, v: string | undefined, min: number, integer = false): number | null => optionalNumber(v, name, { min, integer });

function summaryTable(s: RunSummary): string {
  const d = (x: { p50: number | null; p90: number | null; p99: number | null; mean: number | null }) => [fmtMs(x.mean), fmtMs(x.p50), fmtMs(x.p90), fmtMs(x.p99)];
  let out = table(['metric', 'mean', 'p50', 'p90', 'p99'], [
    ['TTFT', ...d(s.ttft_ms)],
    ['TPOT', ...d(s.tpot_ms)],
    ['ITL', ...d(s.itl_ms)],
    ['E2E', ...d(s.e2e_ms)],
    ['recorded TTFT', ...d(s.recorded_ttft_ms)],
    ['recorded API time', ...d(s.recorded_api_ms)],
    ['schedule lag', ...d(s.schedule_lag_ms)],
  ]);
  out += table(['requests ok', 'failed', 'not sent', 'output tok/s', 'prefill tok/s', 'decode tok/s', 'goodput req/s', 'wall', 'recorded wall'], [
    [
      s.requests.ok,
      s.requests.failed,
      s.requests.not_sent,
      s.output_tok_s === null ? '-' : fmtNum(s.output_tok_s, 1),
      s.prefill_tok_s === null ? '-' : fmtNum(s.prefill_tok_s, 1),
      s.decode_tok_s === null ? '-' : fmtNum(s.decode_tok_s, 1),
      s.goodput_rps === null ? '-' : `${fmtNum(s.goodput_rps, 3)} (${fmtPct(s.goodput_fraction)})`,
      fmtMs(s.wall_ms),
      fmtMs(s.recorded_wall_ms),
    ],
  ]);
  out += table(['cache', 'server (measured)', 'expected (simulated)', 'recorded API'], [
    ['cached tokens', s.cache.server_cached_tokens ?? '-', s.cache.expected_cached_tokens ?? '-', s.cache.recorded_cache_read_tokens ?? '-'],
    ['hit rate', fmtPct(s.cache.server_hit_rate), fmtPct(s.cache.expected_hit_rate), fmtPct(s.cache.recorded_hit_rate)],
  ]);
  const a = s.self_audit;
  out += `self-audit: schedule lag p99 ${fmtMs(a.schedule_lag_p99_ms)}, client CPU ${fmtMs(a.client_cpu_ms)} (${fmtPct(a.client_cpu_share)} of a core) — ${a.note}\n`;
  return out;
}

/**
 * `trace replay <source>`: replays a trace against an inference endpoint and writes one results JSON file
 * (schema in docs/replay.md). --json prints { file, status, config, summary }.
 */
export const registerReplay: RegisterCommand = (program: Command, ctx: CliContext) => {
  program
    .command('replay <source>')
    .description('Replay a trace against an Anthropic- or OpenAI-compatible endpoint and measure TTFT/TPOT/E2E/cache')
    .requiredOption('--endpoint <url>', 'server base URL (e.g. http://127.0.0.1:8080)')
    .option('--api <api>', 'wire protocol: anthropic | openai', 'anthropic')
    .requiredOption('--model <name>', 'model name sent in every request')
    .option('--out <dir>', 'directory for the results file', './replays')
    .option('--conversation <id>', 'replay only this conversation (id or unique prefix)')
    .option('--timing <mode>', 'think (closed loop + recorded think time) | recorded (open loop at recorded offsets) | fast (no waits)', 'think')
    .option('--speed <x>', 'divide every wait by X', '1')
    .option('--content <mode>', 'recorded (recorded bodies) | synthetic (filler text from hash ids)', 'recorded')
    .option('--max-concurrency <n>', 'max requests in flight', '64')
    .option('--max-tokens <n>', "'recorded' (recorded output length) or a number", 'recorded')
    .option('--slo-ttft <s>', 'TTFT SLO in seconds (goodput)')
    .option('--slo-tpot <s>', 'TPOT SLO in seconds (goodput)')
    .option('--source-kind <kind>', 'importer kind (default: auto-detect)')
    .option('--tokenizer <name>', 'tokenizer of the block model (expected cache, synthetic sizing)')
    .option('--block-size <n>', 'block size of the block model / expected-cache simulation (content sources)')
    .option('--api-key <key>', 'API key sent to the endpoint (default: $ANTHROPIC_API_KEY / $OPENAI_API_KEY / "replay")')
    .option('--label <text>', 'free-form label for this run (shown by trace compare)')
    .option('--json', 'print { file, status, config, summary } as JSON')
    .action(async (source: string, opts: ReplayCliOptions) => {
      const backend = getBackend(opts.api);
      const timing = opts.timing as TimingMode;
      if (!['think', 'recorded', 'fast'].includes(timing)) throw new UsageError(`--timing must be think|recorded|fast, got ${opts.timing}`);
      const content = opts.content as ContentMode;
      if (!['recorded', 'synthetic'].includes(content)) throw new UsageError(`--content must be recorded|synthetic, got ${opts.content}`);
      const speed = num('--speed', opts.speed, 0)!;
      if (!(speed > 0)) throw new UsageError('--speed must be > 0');
      const maxConcurrency = num('--max-concurrency', opts.maxConcurrency, 1, true)!;
      const maxTokens = opts.maxTokens === 'recorded' ? 'recorded' : num('--max-tokens', opts.maxTokens, 1, true)!;
      const blockSize = num('--block-size', opts.blockSize, 1, true) ?? undefined;
      let endpoint: URL;
      try {
        endpoint = new URL(opts.endpoint!);
      } catch {
        throw new UsageError(`--endpoint must be an absolute URL, got ${JSON.stringify(opts.endpoint)}`);
      }
      const tokenizer = opts.tokenizer ? getTokenizer(opts.tokenizer) : getTokenizer();
      const plan = await loadPlan(resolveSourcePath(source, ctx.cwd), {
        content,
        logger: ctx.logger,
        kind: opts.sourceKind,
        tokenizer: tokenizer.name,
        blockSize,
        conversation: opts.conversation ?? null,
      });
      const apiKey = opts.apiKey ?? (opts.api === 'openai' ? ctx.env.OPENAI_API_KEY : ctx.env.ANTHROPIC_API_KEY) ?? 'replay';
      const dispatcher = new Agent({ keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0, connections: maxConcurrency });
      const fetch = undiciTransport(dispatcher);
      const progress = createProgress(ctx);
      progress.start(plan.requests.length, `replay ${plan.traceName}`);
      let result;
      try {
        result = await runReplay({
          plan,
          backend,
          endpoint: endpoint.href,
          apiKey,
          model: opts.model!,
          timing,
          speed,
          content,
          maxConcurrency,
          maxTokens,
          slo: { ttftS: num('--slo-ttft', opts.sloTtft, 0), tpotS: num('--slo-tpot', opts.sloTpot, 0) },
          clock: ctx.clock,
          fetch,
          signal: ctx.interrupted,
          countTokens: (t) => tokenizer.count(t),
          cpuUsage: () => process.cpuUsage(),
          onProgress: (done) => progress.update(done),
          config: { source: resolveSourcePath(source, ctx.cwd), source_kind: plan.sourceKind, conversation: opts.conversation ?? null, label: opts.label ?? null, api: backend.name },
        });
      } finally {
        progress.stop();
        await dispatcher.destroy().catch(() => {});
      }
      const file = writeResult(resolve(ctx.cwd, opts.out), result);
      const failure = result.summary.requests.ok === 0 ? new FailedError(`no request of the replay succeeded (results in ${file})`) : null;
      if (opts.json) {
        printJson(ctx, { file, status: result.status, config: result.config, summary: result.summary });
        if (failure) throw failure;
        return;
      }
      ctx.stdout(`${result.status === 'interrupted' ? 'interrupted — partial results' : 'replay complete'}: ${plan.requests.length} requests of ${plan.traceName} → ${opts.model} (${backend.name}, timing ${timing}, ×${speed})\n`);
      ctx.stdout(summaryTable(result.summary));
      const failures = result.requests.filter((r) => !r.ok);
      if (failures.length) {
        ctx.stdout(`${failures.length} failed; first: ${failures[0]!.id}: ${failures[0]!.error}\n`);
      }
      ctx.stdout(`results: ${file}\n`);
      if (failure) throw failure;
    });
};
