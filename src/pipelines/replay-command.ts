import { Agent } from 'undici';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { Progress } from '../shared/progress.js';
import type { ReplayBackend } from '../replay/backends/backend.js';
import { undiciTransport } from '../replay/transport.js';
import { loadPlan } from '../replay/load-plan.js';
import { ensureWritableDir } from '../replay/results.js';
import { selectRequest } from '../replay/plan-transforms.js';
import { killAllServersSync } from '../replay/managed-server.js';
import type { WarmupMode } from '../replay/warmup.js';
import type { MaxTokensOption } from '../replay/content.js';
import type { Slo } from '../replay/metrics.js';
import type { ContentMode, ReplayPlan, TimingMode } from '../replay/types.js';
import { getTokenizer } from '../analyze/tokenizers/index.js';
import { resolveSourcePath } from '../store/target.js';
import { runSeries, type ManagedServeOptions, type SeriesEvent, type SeriesResult } from './replay-series.js';

/** `trace replay`'s settings, parsed and validated from its flags. */
export interface ReplayCommandSettings {
  source: string;
  cwd: string;
  backend: ReplayBackend;
  apiKey: string;
  models: string[];
  endpoint: string | null;
  engine: string;
  /** Bundled-server settings other than engine and command. */
  serve: Omit<ManagedServeOptions, 'engine' | 'command'>;
  timing: TimingMode;
  speed: number;
  content: ContentMode;
  maxConcurrency: number;
  maxTokens: MaxTokensOption;
  blockSize: number | undefined;
  cacheBust: boolean;
  warmup: WarmupMode;
  repeats: number;
  maxFailedFraction: number;
  users: number[];
  staggerMs: number;
  idleGapCapS: number | null;
  out: string;
  tokenizer: string | undefined;
  sourceKind: string | undefined;
  conversation: string | null;
  request: string | undefined;
  subagentModel: string | null;
  label: string | null;
  slo: Slo;
}

export interface ReplayCommandDeps {
  logger: Logger;
  clock: Clock;
  /** Ctrl-C. */
  signal: AbortSignal;
  progress: Progress;
  /** `[node, bin/trace.js]` for managed servers. */
  serveCommand: string[];
  /** Server / warm-up events (the CLI logs them). */
  onEvent: (e: SeriesEvent) => void;
  /** Client CPU time source (the CLI passes process.cpuUsage). */
  cpuUsage: () => { user: number; system: number };
  /** Runs `fn` when the process exits, until the returned function is called (the CLI: process 'exit'). */
  atExit: (fn: () => void) => () => void;
}

/**
 * Loads the plan and runs the replay series (managed servers or one endpoint), reporting events and progress
 * per run; the HTTP agent and managed servers are torn down whatever the exit path.
 */
export async function runReplayCommand(s: ReplayCommandSettings, deps: ReplayCommandDeps): Promise<{ series: SeriesResult; plan: ReplayPlan }> {
  ensureWritableDir(s.out);
  const tokenizer = s.tokenizer ? getTokenizer(s.tokenizer) : getTokenizer();
  let plan = await loadPlan(resolveSourcePath(s.source, s.cwd), {
    content: s.content,
    logger: deps.logger,
    kind: s.sourceKind,
    tokenizer: tokenizer.name,
    blockSize: s.blockSize,
    conversation: s.conversation,
  });
  if (s.request) plan = selectRequest(plan, s.request);
  const connections = s.maxConcurrency * Math.max(...s.users);
  const dispatcher = new Agent({ keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0, connections });
  const { progress } = deps;
  let current = '';
  // Managed servers never outlive this process, whatever the exit path.
  const offExit = deps.atExit(killAllServersSync);
  try {
    const series = await runSeries({
      plan,
      models: s.models,
      endpoint: s.endpoint,
      serve: { engine: s.engine, command: deps.serveCommand, ...s.serve },
      warmup: s.warmup,
      repeats: s.repeats,
      cacheBust: s.cacheBust,
      users: s.users,
      staggerMs: s.staggerMs,
      idleGapCapS: s.idleGapCapS,
      out: s.out,
      replay: {
        backend: s.backend,
        apiKey: s.apiKey,
        timing: s.timing,
        speed: s.speed,
        content: s.content,
        maxConcurrency: connections,
        maxTokens: s.maxTokens,
        slo: s.slo,
        clock: deps.clock,
        fetch: undiciTransport(dispatcher),
        signal: deps.signal,
        countTokens: (t) => tokenizer.count(t),
        cpuUsage: deps.cpuUsage,
        subagentModel: s.subagentModel,
        maxFailedFraction: s.maxFailedFraction,
        config: { source: resolveSourcePath(s.source, s.cwd), source_kind: plan.sourceKind, conversation: s.conversation, label: s.label, api: s.backend.name, request: s.request ?? null },
      },
      onEvent: deps.onEvent,
      onProgress: (label, done, total) => {
        if (label !== current) {
          progress.stop();
          progress.start(total, `replay ${label}`);
          current = label;
        }
        progress.update(done);
      },
    });
    return { series, plan };
  } finally {
    progress.stop();
    await dispatcher.destroy().catch(() => {});
    killAllServersSync();
    offExit();
  }
}
