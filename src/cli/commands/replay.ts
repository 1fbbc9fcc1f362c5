import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import type { CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { optionalNumber, parseInteger } from '../options.js';
import { FailedError, UsageError } from '../../shared/errors.js';
import { createProgress, fmtMs, fmtNum, fmtPct, printJson, table } from '../output.js';
import { getBackend } from '../../replay/backends/index.js';
import { DEFAULT_MAX_FAILED_FRACTION, type RunResult } from '../../replay/results.js';
import { WARMUP_MODES, type WarmupMode } from '../../replay/warmup.js';
import type { SeriesEvent, SeriesResult } from '../../pipelines/replay-series.js';
import { runReplayCommand, type ReplayCommandSettings } from '../../pipelines/replay-command.js';
import type { CapacityReport } from '../../replay/capacity.js';
import type { ContentMode, TimingMode } from '../../replay/types.js';
import type { RunSummary } from '../../replay/metrics.js';

interface ReplayCliOptions {
  endpoint?: string;
  api: string;
  model: string[];
  engine: string;
  subagentModel?: string;
  request?: string;
  warmup?: string;
  repeat?: string;
  cacheBust?: boolean;
  idleGapCap?: string;
  maxFailedFraction: string;
  users: string;
  stagger: string;
  slots?: string;
  cacheBytes?: string;
  ctxSize?: string;
  threads?: string;
  readyTimeout: string;
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

/** bin/trace.js of this installation (managed servers run `node bin/trace.js serve …`). */
const TRACE_BIN = fileURLToPath(new URL('../../../bin/trace.js', import.meta.url));

const collect = (v: string, prev: string[] = []) => [...prev, v];

function jobLine(s: RunSummary): string {
  const f = (j: RunSummary['jobs']['replayed']['total']) =>
    j ? `${fmtMs(j.completion_ms)} (model ${fmtMs(j.model_ms)}, tool ${fmtMs(j.tool_ms)}, user ${fmtMs(j.user_ms)}, other ${fmtMs(j.other_ms)})` : '-';
  const sph = s.jobs.sessions_per_hour;
  return `job completion: replayed ${f(s.jobs.replayed.total)} vs recorded ${f(s.jobs.recorded.total)}; ${sph === null ? '-' : fmtNum(sph, 1)} sessions/hour at the measured completion time\n`;
}

function runsTable(runs: { file: string; result: RunResult }[]): string {
  return table(
    ['model', 'users', 'repeat', 'status', 'valid', 'ok/failed', 'TTFT p50', 'TTFT p90', 'TPOT p50', 'output tok/s', 'server hit', 'completion'],
    runs.map(({ result: r }) => [
      r.config.model,
      r.config.users ?? 1,
      `${r.config.repeat ?? 1}/${r.config.repeats ?? 1}`,
      r.status,
      r.validity ? (r.validity.valid ? 'yes' : `no: ${r.validity.reason}`) : '-',
      `${r.summary.requests.ok}/${r.summary.requests.failed}`,
      fmtMs(r.summary.ttft_ms.p50),
      fmtMs(r.summary.ttft_ms.p90),
      fmtMs(r.summary.tpot_ms.p50),
      r.summary.output_tok_s === null ? '-' : fmtNum(r.summary.output_tok_s, 1),
      fmtPct(r.summary.cache.server_hit_rate),
      fmtMs(r.summary.jobs.replayed.total?.completion_ms),
    ]),
    { title: 'runs' },
  );
}

export function capacityTable(c: CapacityReport): string {
  return table(
    ['users', 'runs', 'TTFT p50', 'TTFT p90', 'TPOT p50', 'TPOT p90', 'output tok/s', 'server hit', 'SLO holds'],
    c.levels.map((l) => [l.users, l.runs, fmtMs(l.ttft_p50_ms), fmtMs(l.ttft_p90_ms), fmtMs(l.tpot_p50_ms), fmtMs(l.tpot_p90_ms), l.output_tok_s === null ? '-' : fmtNum(l.output_tok_s, 1), fmtPct(l.server_hit_rate), l.holds === null ? '-' : l.holds ? 'yes' : 'no']),
    { title: `capacity — ${c.model}${c.label ? ` (${c.label})` : ''}: ${c.capacity_users === null ? 'none' : `${c.capacity_users} users`} — ${c.note}` },
  );
}

function parseUsers(v: string): number[] {
  const xs = v.split(',').map((x) => parseInteger(x.trim(), '--users', 1, 4096));
  return [...new Set(xs)].sort((a, b) => a - b);
}

/**
 * `trace replay <source>`: replays a trace against `--endpoint`, or against the bundled server started per
 * `--model` (managed), with warm-up, repeats, cache-bust, `--users` levels; one results JSON per run (schema in
 * docs/replay.md). --json prints { runs, servers, capacity } (+ file/status/config/summary of a single run).
 */
export const registerReplay: RegisterCommand = (program: Command, ctx: CliContext) => {
  program
    .command('replay <source>')
    .description('Replay a trace against the bundled server (one run per --model) or an external endpoint; measure TTFT/TPOT/E2E/cache, job times, capacity')
    .option('--endpoint <url>', 'external server base URL (LM Studio, vLLM, llama-server, mlx_lm.server…); without it each --model runs on the bundled server')
    .option('--api <api>', 'wire protocol: anthropic | openai', 'anthropic')
    .option(
      '--model <path|dir|id>',
      'without --endpoint: a model the bundled server runs (GGUF file or dir for llama; dir / hub id for mlx). Repeat it to compare models: one run series per model (AIPerf users: this is NOT routing; use --subagent-model for that). With --endpoint: the model name sent',
      collect,
    )
    .addOption(new Option('--engine <name>', 'engine of the bundled server').choices(['llama', 'mlx']).default('llama'))
    .option('--subagent-model <name>', 'model name sent for sub-agent requests (routing, as AIPerf’s repeated --model; needs --endpoint)')
    .option('--request <id>', 'replay only this recorded request (id or unique prefix)')
    .option('--warmup <mode>', `before measuring: ${WARMUP_MODES.join(' | ')} (default load; prefix with --cache-bust)`)
    .option('--repeat <n>', 'full replays per model and users level (default 1 for one model, 3 when comparing)')
    .option('--cache-bust', 'unique marker at the start of every agent’s first user message per repeat (tools/system stay shared)')
    .option('--idle-gap-cap <s>', 'cap every recorded idle gap at S seconds')
    .option('--max-failed-fraction <f>', 'a run with more failed requests is marked invalid', String(DEFAULT_MAX_FAILED_FRACTION))
    .option('--users <list>', 'concurrency levels: that many concurrent copies of the trace each (e.g. 1,2,4,8)', '1')
    .option('--stagger <s>', 'start offset between concurrent copies (seconds)', '0.5')
    .option('--slots <n>', 'bundled server: concurrent generations')
    .option('--cache-bytes <n>', 'bundled server: KV prompt-cache budget in bytes')
    .option('--ctx-size <n>', 'bundled server: context size (default: largest prompt + output of the trace, rounded up)')
    .option('--threads <n>', 'bundled server: CPU threads')
    .option('--ready-timeout <s>', 'bundled server: seconds to wait until it is ready', '600')
    .option('--out <dir>', 'directory for the results files and server logs', './replays')
    .option('--conversation <id>', 'replay only this conversation (id or unique prefix)')
    .option('--timing <mode>', 'think (closed loop + recorded think time) | recorded (open loop at recorded offsets) | fast (no waits)', 'think')
    .option('--speed <x>', 'divide every wait by X', '1')
    .option('--content <mode>', 'recorded (recorded bodies) | synthetic (filler text from hash ids)', 'recorded')
    .option('--max-concurrency <n>', 'max requests in flight', '64')
    .option('--max-tokens <n>', "'recorded' (recorded output length) or a number", 'recorded')
    .option('--slo-ttft <s>', 'TTFT SLO in seconds (goodput; capacity at p90)')
    .option('--slo-tpot <s>', 'TPOT SLO in seconds (goodput; capacity at p90)')
    .option('--source-kind <kind>', 'importer kind (default: auto-detect)')
    .option('--tokenizer <name>', 'tokenizer of the block model (expected cache, synthetic sizing)')
    .option('--block-size <n>', 'block size of the block model / expected-cache simulation (content sources)')
    .option('--api-key <key>', 'API key sent to the endpoint (default: $ANTHROPIC_API_KEY / $OPENAI_API_KEY / "replay")')
    .option('--label <text>', 'free-form label for this run (shown by trace compare)')
    .option('--json', 'print { runs, servers, capacity } as JSON')
    .action(async (source: string, opts: ReplayCliOptions) => {
      const settings = replaySettings(source, opts, ctx);
      const { series, plan } = await runReplayCommand(settings, {
        logger: ctx.logger,
        clock: ctx.clock,
        signal: ctx.interrupted,
        progress: createProgress(ctx),
        serveCommand: [process.execPath, TRACE_BIN],
        onEvent: (e) => logSeriesEvent(ctx, opts.engine, e),
        cpuUsage: () => process.cpuUsage(),
        atExit: (fn) => {
          process.once('exit', fn);
          return () => void process.removeListener('exit', fn);
        },
      });
      printSeries(ctx, series, opts.json === true, plan.requests.length, plan.traceName);
    });
};

/** Parses and validates the flags (usage errors before anything runs). */
function replaySettings(source: string, opts: ReplayCliOptions, ctx: CliContext): ReplayCommandSettings {
  const backend = getBackend(opts.api);
  const timing = opts.timing as TimingMode;
  if (!['think', 'recorded', 'fast'].includes(timing)) throw new UsageError(`--timing must be think|recorded|fast, got ${opts.timing}`);
  const content = opts.content as ContentMode;
  if (!['recorded', 'synthetic'].includes(content)) throw new UsageError(`--content must be recorded|synthetic, got ${opts.content}`);
  const models = opts.model ?? [];
  if (models.length === 0) throw new UsageError('--model is required (a model to serve, or with --endpoint the model name sent)');
  const speed = num('--speed', opts.speed, 0)!;
  if (!(speed > 0)) throw new UsageError('--speed must be > 0');
  const maxConcurrency = num('--max-concurrency', opts.maxConcurrency, 1, true)!;
  const maxTokens = opts.maxTokens === 'recorded' ? 'recorded' : num('--max-tokens', opts.maxTokens, 1, true)!;
  const blockSize = num('--block-size', opts.blockSize, 1, true) ?? undefined;
  const cacheBust = Boolean(opts.cacheBust);
  const warmup = (opts.warmup ?? (cacheBust ? 'prefix' : 'load')) as WarmupMode;
  if (!WARMUP_MODES.includes(warmup)) throw new UsageError(`--warmup must be ${WARMUP_MODES.join('|')}, got ${opts.warmup}`);
  const repeats = opts.repeat === undefined ? (models.length > 1 ? 3 : 1) : parseInteger(opts.repeat, '--repeat', 1, 1000);
  const maxFailedFraction = num('--max-failed-fraction', opts.maxFailedFraction, 0)!;
  const users = parseUsers(opts.users);
  const staggerMs = num('--stagger', opts.stagger, 0)! * 1000;
  const idleGapCapS = num('--idle-gap-cap', opts.idleGapCap, 0);
  return {
    source,
    cwd: ctx.cwd,
    backend,
    apiKey: opts.apiKey ?? (opts.api === 'openai' ? ctx.env.OPENAI_API_KEY : ctx.env.ANTHROPIC_API_KEY) ?? 'replay',
    models,
    endpoint: parseEndpoint(opts),
    engine: opts.engine,
    serve: {
      ...(opts.ctxSize !== undefined ? { ctxSize: parseInteger(opts.ctxSize, '--ctx-size', 16) } : {}),
      slots: num('--slots', opts.slots, 1, true),
      cacheBytes: num('--cache-bytes', opts.cacheBytes, 0, true),
      threads: num('--threads', opts.threads, 1, true),
      readyTimeoutMs: num('--ready-timeout', opts.readyTimeout, 1)! * 1000,
    },
    timing,
    speed,
    content,
    maxConcurrency,
    maxTokens,
    blockSize,
    cacheBust,
    warmup,
    repeats,
    maxFailedFraction,
    users,
    staggerMs,
    idleGapCapS,
    out: resolve(ctx.cwd, opts.out),
    tokenizer: opts.tokenizer,
    sourceKind: opts.sourceKind,
    conversation: opts.conversation ?? null,
    request: opts.request,
    subagentModel: opts.subagentModel ?? null,
    label: opts.label ?? null,
    slo: { ttftS: num('--slo-ttft', opts.sloTtft, 0), tpotS: num('--slo-tpot', opts.sloTpot, 0) },
  };
}

function parseEndpoint(opts: ReplayCliOptions): string | null {
  if (opts.endpoint !== undefined) {
    try {
      return new URL(opts.endpoint).href;
    } catch {
      throw new UsageError(`--endpoint must be an absolute URL, got ${JSON.stringify(opts.endpoint)}`);
    }
  } else if (opts.subagentModel) throw new UsageError('--subagent-model routes sub-agents to another model name on one --endpoint; managed runs serve one model at a time');
  return null;
}

function logSeriesEvent(ctx: CliContext, engine: string, e: SeriesEvent): void {
  if (e.type === 'server-starting') ctx.logger.info(`starting trace serve --engine ${engine} --model ${e.model} --ctx-size ${e.ctxSize} (log: ${e.log})`);
  else if (e.type === 'server-ready') ctx.logger.info(`server ready in ${fmtMs(e.readyMs)} at ${e.url} (pid ${e.pid})`);
  else if (e.type === 'server-stopped') ctx.logger.info(`server for ${e.model} stopped (pid ${e.pid})`);
  else if (e.type === 'warmup' && e.result.failed > 0) ctx.logger.warn(`warm-up: ${e.result.failed} of ${e.result.requests} requests failed: ${e.result.first_error}`);
}

function printSeries(ctx: CliContext, series: SeriesResult, json: boolean, planned: number, traceName: string): void {
  const { runs } = series;
  // Ctrl-C is the user's choice: its partial results are saved and are not a failure.
  const allFailed = !series.interrupted && runs.length > 0 && runs.every((r) => r.result.summary.requests.ok === 0);
  const failure = allFailed ? new FailedError(`no request of the replay succeeded (results in ${runs.map((r) => r.file).join(', ')})`) : null;
  if (json) {
    const single = runs.length === 1 ? { file: runs[0]!.file, status: runs[0]!.result.status, validity: runs[0]!.result.validity, config: runs[0]!.result.config, summary: runs[0]!.result.summary } : {};
    printJson(ctx, {
      ...single,
      interrupted: series.interrupted,
      runs: runs.map(({ file, result }) => ({ file, status: result.status, validity: result.validity, config: result.config, summary: result.summary })),
      servers: series.servers,
      capacity: series.capacity,
    });
    if (failure) throw failure;
    return;
  }
  if (runs.length === 1) {
    const r = runs[0]!.result;
    ctx.stdout(`${r.status === 'interrupted' ? 'interrupted — partial results' : 'replay complete'}: ${planned} requests of ${traceName} → ${r.config.model} (${r.config.api}, timing ${r.config.timing}, ×${r.config.speed})\n`);
    ctx.stdout(summaryTable(r.summary));
    ctx.stdout(jobLine(r.summary));
    if (r.validity && !r.validity.valid) ctx.stdout(`run marked invalid: ${r.validity.reason}\n`);
    const failures = r.requests.filter((q) => !q.ok);
    if (failures.length) ctx.stdout(`${failures.length} failed; first: ${failures[0]!.id}: ${failures[0]!.error}\n`);
    ctx.stdout(`results: ${runs[0]!.file}\n`);
  } else {
    ctx.stdout(`${series.interrupted ? 'interrupted — partial results' : 'replay complete'}: ${runs.length} runs of ${traceName} (${planned} requests each)\n`);
    ctx.stdout(runsTable(runs));
    for (const c of series.capacity) ctx.stdout(capacityTable(c));
    for (const s of series.servers) ctx.stdout(`server ${s.model}: ready in ${fmtMs(s.ready_ms)}, context ${s.ctx_size}, log ${s.log}\n`);
    if (runs.length) ctx.stdout(`results in ${resolve(runs[0]!.file, '..')} — rank them with: trace compare ${resolve(runs[0]!.file, '..')}\n`);
  }
  if (failure) throw failure;
}
