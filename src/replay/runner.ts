import pLimit from 'p-limit';
import { systemClock, type Clock } from '../shared/clock.js';
import { errorMessage } from '../shared/errors.js';
import type { FetchLike, ReplayBackend } from './backends/backend.js';
import { sendRequest } from './backends/backend.js';
import { applyCacheBust, recordedBody, syntheticBody, type MaxTokensOption } from './content.js';
import { createPolicy, type CachePolicy, type SimRequest } from '../analyze/cache/index.js';
import { summarize, tpotOf, type Slo } from './metrics.js';
import { DEFAULT_MAX_FAILED_FRACTION, RESULT_SCHEMA, validityOf, type RunConfig, type RunResult } from './results.js';
import { Scheduler } from './scheduler.js';
import type { BackendResult, ContentMode, PlannedRequest, ReplayPlan, RequestRecord, TimingMode } from './types.js';

export interface ReplayOptions {
  plan: ReplayPlan;
  backend: ReplayBackend;
  endpoint: string;
  apiKey: string;
  model: string;
  timing: TimingMode;
  speed: number;
  content: ContentMode;
  maxConcurrency: number;
  maxTokens: MaxTokensOption;
  slo: Slo;
  clock: Clock;
  fetch: FetchLike;
  /** Ctrl-C: stop scheduling, abort in-flight requests, return partial results. */
  signal?: AbortSignal;
  /** Client-side token count when the server reports no usage. */
  countTokens?: (text: string) => number;
  /** Client CPU time source (process.cpuUsage in the CLI). */
  cpuUsage?: () => { user: number; system: number };
  onProgress?: (done: number, total: number) => void;
  /**
   * Scheduler precision (see SchedulerOptions.spinMs). Default: 1 ms with the real `systemClock` (what the CLI
   * passes), 0 with any other clock (a ManualClock never advances on its own, so polling it would never end).
   */
  spinMs?: number;
  /**
   * Cache policy for the expected cached tokens (default 'ideal': unlimited capacity). Looked up when a request is
   * sent and written when its prefill ends (first token), in the order the replay actually ran.
   */
  expectedPolicy?: CachePolicy;
  /** Model name sent for sub-agent requests (AIPerf-style routing; default: `model`). */
  subagentModel?: string | null;
  /**
   * Cache-bust marker base of this run (`--cache-bust`): `[<base>]` (copy k > 0: `[<base>-u<k>]`) starts the first
   * user message of every agent. Without it, copies k > 0 of a `--users` plan still get `[copy-u<k>]`.
   */
  cacheBust?: string | null;
  /** Fraction of failed requests above which the run is marked invalid (default 0.05). */
  maxFailedFraction?: number;
  /** Everything of the run config the runner does not know itself. */
  config: Pick<RunConfig, 'source' | 'source_kind' | 'conversation' | 'label' | 'api'> & Partial<RunConfig>;
}

/** Spin window with the real clock: Node timers fire up to ~1 ms late, so the last 1 ms is polled. */
export const DEFAULT_SPIN_MS = 1;

/** The cache-bust marker of one request (null: none). */
export function markerOf(req: Pick<PlannedRequest, 'copy'>, base: string | null | undefined): string | null {
  if (base) return req.copy > 0 ? `${base}-u${req.copy}` : base;
  return req.copy > 0 ? `copy-u${req.copy}` : null;
}

export function buildBody(req: PlannedRequest, o: Pick<ReplayOptions, 'content' | 'model' | 'subagentModel' | 'maxTokens' | 'plan' | 'cacheBust'>) {
  const model = o.subagentModel && req.parentAgentKey !== null ? o.subagentModel : o.model;
  const body = o.content === 'synthetic' ? syntheticBody(req, model, o.maxTokens, o.plan.blockSize ?? 64) : recordedBody(req, model, o.maxTokens);
  const marker = markerOf(req, o.cacheBust);
  return marker ? applyCacheBust(body, marker) : body;
}

/** Run-wide state shared by every request of one replay. */
interface RunContext {
  o: ReplayOptions;
  internal: AbortController;
  /** One controller per in-flight request, aborted from here (not N listeners on one shared signal). */
  inFlight: Set<AbortController>;
  policy: CachePolicy;
  records: RequestRecord[];
  /** Monotonic time at the start of the run: request send/plan times in the result are relative to it. */
  origin: number;
  done: number;
}

/** Runs a replay end to end; never throws for per-request failures (they are records with ok=false). */
export async function runReplay(o: ReplayOptions): Promise<RunResult> {
  const { clock, plan } = o;
  const internal = new AbortController();
  const inFlight = new Set<AbortController>();
  internal.signal.addEventListener('abort', () => {
    for (const c of inFlight) c.abort(internal.signal.reason);
  }, { once: true });
  const onAbort = () => internal.abort(o.signal?.reason);
  if (o.signal?.aborted) internal.abort(o.signal.reason);
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const scheduler = new Scheduler(plan.requests, { timing: o.timing, speed: o.speed, clock, signal: internal.signal, spinMs: o.spinMs ?? (clock === systemClock ? DEFAULT_SPIN_MS : 0) });
  const limit = pLimit(Math.max(1, o.maxConcurrency));
  const policy = o.expectedPolicy ?? createPolicy('ideal');
  const cpu0 = o.cpuUsage?.();
  // Wall-clock timestamps for the result; every duration (send times, lag, wall time) on the monotonic clock.
  const startedAt = clock.now();
  const t0 = clock.monotonic();
  const ctx: RunContext = { o, internal, inFlight, policy, records: [], origin: t0, done: 0 };

  const tasks: Promise<void>[] = [];
  for await (const d of scheduler.dispatches()) {
    const id = d.request.id;
    tasks.push(
      limit(() => execRequest(ctx, d.request, d.plannedAtMs)).finally(() => scheduler.complete(id)),
    );
  }
  await Promise.allSettled(tasks);
  o.signal?.removeEventListener('abort', onAbort);
  const finishedAt = clock.now();
  const wallMs = clock.monotonic() - t0;
  const cpu1 = o.cpuUsage?.();
  const cpuMs = cpu0 && cpu1 ? (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / 1000 : 0;
  return buildRunResult(o, ctx.records, { interrupted: internal.signal.aborted, startedAt, finishedAt, wallMs, cpuMs });
}

/** Sends one request (looking up / writing the expected cache) and appends its record. */
async function execRequest(ctx: RunContext, req: PlannedRequest, plannedAtMs: number): Promise<void> {
  const { o, policy, internal, inFlight } = ctx;
  const { clock } = o;
  const sentAt = clock.monotonic();
  const sim: SimRequest | null = req.block ?? null;
  const lookup = sim ? policy.lookup('', sim, sentAt / 1000) : null;
  const expected = lookup ? lookup.readTokens : null;
  let inserted = false;
  const insert = () => {
    if (!inserted && sim && lookup) policy.write('', sim, clock.monotonic() / 1000, lookup);
    inserted = true;
  };
  let res: BackendResult;
  const ac = new AbortController();
  if (internal.signal.aborted) ac.abort(internal.signal.reason);
  inFlight.add(ac);
  try {
    const body = buildBody(req, o);
    res = await sendRequest(o.backend, body, {
      endpoint: o.endpoint,
      apiKey: o.apiKey,
      fetch: o.fetch,
      clock,
      signal: ac.signal,
      onFirstToken: insert,
    });
  } catch (e) {
    res = { ok: false, status: null, error: errorMessage(e), ttftMs: null, itlMs: [], e2eMs: null, promptTokens: null, cachedTokens: null, outputTokens: null, outputText: '', stopReason: null };
  } finally {
    inFlight.delete(ac);
  }
  if (res.ok) insert();
  ctx.records.push(requestRecord(o, req, res, { plannedAtMs, sentAt, origin: ctx.origin, expected, sim }));
  ctx.done++;
  o.onProgress?.(ctx.done, o.plan.requests.length);
}

/** The result record of one sent request (output tokens counted client-side when the server reports none). */
function requestRecord(
  o: ReplayOptions,
  req: PlannedRequest,
  res: BackendResult,
  at: { plannedAtMs: number; sentAt: number; origin: number; expected: number | null; sim: SimRequest | null },
): RequestRecord {
  const { plannedAtMs, sentAt, origin, expected, sim } = at;
  let outputTokens = res.outputTokens;
  let outSrc: RequestRecord['output_tokens_source'] = outputTokens === null ? null : 'server';
  if (outputTokens === null && res.outputText && o.countTokens) {
    outputTokens = o.countTokens(res.outputText);
    outSrc = 'tokenizer';
  }
  const r = req.recorded;
  return {
    id: req.id,
    index: req.index,
    conversation_id: req.conversationId,
    agent: req.agentKey,
    ok: res.ok,
    status: res.status,
    error: res.error,
    planned_at_ms: plannedAtMs - origin,
    sent_at_ms: sentAt - origin,
    schedule_lag_ms: sentAt - plannedAtMs,
    ttft_ms: res.ttftMs,
    itl_ms: res.itlMs,
    tpot_ms: tpotOf(res.ttftMs, res.e2eMs, outputTokens),
    e2e_ms: res.e2eMs,
    output_tokens: outputTokens,
    output_tokens_source: outSrc,
    prompt_tokens: res.promptTokens,
    cached_tokens: res.cachedTokens,
    expected_cached_tokens: expected,
    expected_prompt_tokens: sim ? sim.inputTokens : null,
    stop_reason: res.stopReason,
    gap_kind: req.gapKind,
    copy: req.copy,
    recorded: {
      offset_ms: req.offsetMs,
      ttft_ms: r.ttftMs,
      api_ms: r.apiMs,
      prompt_tokens: r.promptTokens,
      output_tokens: r.outputTokens,
      cache_read_tokens: r.cacheReadTokens,
      think_ms: r.thinkMs,
    },
  };
}

/** Sorts the records, summarises them and assembles the run result with its config and validity. */
function buildRunResult(
  o: ReplayOptions,
  records: RequestRecord[],
  run: { interrupted: boolean; startedAt: number; finishedAt: number; wallMs: number; cpuMs: number },
): RunResult {
  const { plan } = o;
  records.sort((a, b) => a.index - b.index);
  const summary = summarize(records, {
    total: plan.requests.length,
    wallMs: run.wallMs,
    recordedWallMs: plan.recordedWallMs,
    slo: o.slo,
    cpuMs: run.cpuMs,
  });
  const status = run.interrupted ? 'interrupted' : 'complete';
  return {
    schema: RESULT_SCHEMA,
    status,
    started_at: new Date(run.startedAt).toISOString(),
    finished_at: new Date(run.finishedAt).toISOString(),
    config: {
      trace: plan.traceName,
      endpoint: o.endpoint,
      model: o.model,
      timing: o.timing,
      speed: o.speed,
      content: o.content,
      max_concurrency: o.maxConcurrency,
      max_tokens: o.maxTokens,
      slo_ttft_s: o.slo.ttftS,
      slo_tpot_s: o.slo.tpotS,
      subagent_model: o.subagentModel ?? null,
      cache_bust: o.cacheBust ?? null,
      max_failed_fraction: o.maxFailedFraction ?? DEFAULT_MAX_FAILED_FRACTION,
      ...o.config,
    },
    validity: validityOf(status, summary, o.maxFailedFraction ?? DEFAULT_MAX_FAILED_FRACTION),
    summary,
    requests: records,
  };
}
