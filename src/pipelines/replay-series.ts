import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UsageError } from '../shared/errors.js';
import { readGgufModelInfo } from '../serve/gguf/gguf-info.js';
import { runReplay, buildBody, type ReplayOptions } from '../replay/runner.js';
import { capIdleGaps, replicatePlan } from '../replay/plan-transforms.js';
import { fitContext, traceContextNeed, type ContextNeed } from '../replay/context-need.js';
import { startManagedServer, type ManagedServer } from '../replay/managed-server.js';
import { warmUp, type WarmupMode, type WarmupResult } from '../replay/warmup.js';
import { ensureWritableDir, resultFileName, writeResult, type ManagedServerConfig, type RunResult } from '../replay/results.js';
import { capacityOf, type CapacityReport } from '../replay/capacity.js';
import type { ReplayPlan } from '../replay/types.js';

/**
 * `trace replay` over several models, repeats and concurrency levels: for each model, start the bundled server
 * (managed) or use `--endpoint`, warm up, run every `--users` level `--repeat` times, write one result file per
 * run, stop the server; then the capacity curves. Any exit path (error, Ctrl-C) stops the current server first.
 */

export interface ManagedServeOptions {
  engine: string;
  /** argv prefix that runs the CLI ([node, bin/trace.js]). */
  command: string[];
  ctxSize?: number;
  slots?: number | null;
  cacheBytes?: number | null;
  threads?: number | null;
  extraArgs?: string[];
  readyTimeoutMs?: number;
  graceMs?: number;
  env?: Record<string, string | undefined>;
}

export interface SeriesOptions {
  plan: ReplayPlan;
  models: string[];
  /** External server; null = managed servers. */
  endpoint: string | null;
  serve: ManagedServeOptions;
  warmup: WarmupMode;
  repeats: number;
  cacheBust: boolean;
  users: number[];
  staggerMs: number;
  idleGapCapS: number | null;
  out: string;
  /** Everything runReplay needs that does not change between runs. */
  replay: Omit<ReplayOptions, 'plan' | 'endpoint' | 'model' | 'cacheBust' | 'config' | 'onProgress'> & { config: ReplayOptions['config'] };
  /** Progress / log events (the CLI prints them). */
  onEvent?: (e: SeriesEvent) => void;
  onProgress?: (label: string, done: number, total: number) => void;
  /** Random marker source (tests inject a fixed one). */
  nonce?: () => string;
}

export type SeriesEvent =
  | { type: 'server-starting'; model: string; ctxSize: number; log: string }
  | { type: 'server-ready'; model: string; url: string; pid: number; readyMs: number }
  | { type: 'server-stopped'; model: string; pid: number }
  | { type: 'warmup'; model: string; result: WarmupResult }
  | { type: 'run-done'; file: string; result: RunResult };

export interface SeriesServer {
  model: string;
  pid: number;
  url: string;
  ready_ms: number;
  ctx_size: number;
  log: string;
}

export interface SeriesResult {
  runs: { file: string; result: RunResult }[];
  servers: SeriesServer[];
  capacity: CapacityReport[];
  interrupted: boolean;
}

/** A llama model argument: a .gguf file, or a directory holding exactly one. */
export function resolveModelPath(engine: string, model: string): string {
  if (engine !== 'llama') return model;
  const st = statSync(model, { throwIfNoEntry: false });
  if (!st) throw new UsageError(`--model ${model}: no such file or directory (llama needs a .gguf file or a directory with one)`);
  if (st.isFile()) return model;
  const ggufs = readdirSync(model).filter((f) => f.toLowerCase().endsWith('.gguf'));
  if (ggufs.length !== 1) throw new UsageError(`--model ${model}: a directory must hold exactly one .gguf (found ${ggufs.length})`);
  return join(model, ggufs[0]!);
}

/** Trained context and byte-level flag without loading weights (null when unknown, e.g. an MLX hub id). */
async function modelFacts(engine: string, path: string): Promise<{ trainContext: number | null; byteLevel: boolean }> {
  if (engine === 'llama') {
    try {
      const info = await readGgufModelInfo(path);
      return { trainContext: info.trainContext, byteLevel: info.vocabSize !== undefined && info.vocabSize <= 512 };
    } catch (e) {
      throw new UsageError(`--model ${path}: ${(e as Error).message}`, { cause: e });
    }
  }
  const cfg = join(path, 'config.json');
  if (existsSync(cfg)) {
    try {
      const c = JSON.parse(readFileSync(cfg, 'utf8')) as { max_position_embeddings?: number };
      return { trainContext: typeof c.max_position_embeddings === 'number' ? c.max_position_embeddings : null, byteLevel: false };
    } catch {
      return { trainContext: null, byteLevel: false };
    }
  }
  return { trainContext: null, byteLevel: false };
}

interface Target {
  model: string;
  path: string;
  ctxSize: number | null;
  ctxSource: 'flag' | 'trace';
}

/**
 * Resolves every model and checks it can hold the trace — before any server starts or any request is sent.
 * UsageError (exit 2) with a one-line reason otherwise.
 */
export async function planTargets(o: Pick<SeriesOptions, 'plan' | 'models' | 'endpoint' | 'serve' | 'replay'>): Promise<Target[]> {
  if (o.endpoint !== null) return o.models.map((m) => ({ model: m, path: m, ctxSize: null, ctxSource: 'flag' }));
  const targets: Target[] = [];
  const needCache = new Map<boolean, ContextNeed>();
  for (const model of o.models) {
    const path = resolveModelPath(o.serve.engine, model);
    const facts = await modelFacts(o.serve.engine, path);
    let need = needCache.get(facts.byteLevel);
    if (!need) {
      const bodyOf = (i: number) => buildBody(o.plan.requests[i]!, { ...o.replay, plan: o.plan, model, cacheBust: 'cache-bust-0000000000' });
      need = traceContextNeed(o.plan, { byteLevel: facts.byteLevel, bodyOf });
      needCache.set(facts.byteLevel, need);
    }
    const train = facts.trainContext ?? Math.max(o.serve.ctxSize ?? 0, need.tokens);
    const fit = fitContext(model, need, train, o.serve.ctxSize);
    if (!fit.ok) throw new UsageError(fit.reason);
    targets.push({ model, path, ctxSize: fit.ctxSize, ctxSource: fit.source });
  }
  return targets;
}

function levelPlans(o: SeriesOptions): Map<number, ReplayPlan> {
  let base = o.plan;
  if (o.idleGapCapS !== null) base = capIdleGaps(base, o.idleGapCapS * 1000);
  return new Map(o.users.map((u) => [u, replicatePlan(base, u, o.staggerMs)]));
}

export async function runSeries(o: SeriesOptions): Promise<SeriesResult> {
  const targets = await planTargets(o);
  ensureWritableDir(o.out);
  const nonce = o.nonce ?? (() => randomBytes(4).toString('hex'));
  const plans = levelPlans(o);
  const signal = o.replay.signal;
  const out: SeriesResult = { runs: [], servers: [], capacity: [], interrupted: false };
  for (const t of targets) {
    if (signal?.aborted) break;
    let server: ManagedServer | null = null;
    let serverConfig: ManagedServerConfig | null = null;
    try {
      let endpoint = o.endpoint;
      if (endpoint === null) {
        const log = join(o.out, resultFileName(o.plan.traceName, t.model.split('/').pop()!.replace(/\.gguf$/i, ''), new Date()).replace(/\.json$/, '.server.log'));
        o.onEvent?.({ type: 'server-starting', model: t.model, ctxSize: t.ctxSize!, log });
        server = await startManagedServer({ ...o.serve, model: t.path, ctxSize: t.ctxSize!, logFile: log, signal, clock: o.replay.clock });
        endpoint = server.url;
        serverConfig = { engine: o.serve.engine, model_path: t.path, ctx_size: t.ctxSize!, ctx_source: t.ctxSource, slots: o.serve.slots ?? null, cache_bytes: o.serve.cacheBytes ?? null, threads: o.serve.threads ?? null, log, ready_ms: server.readyMs, pid: server.pid };
        out.servers.push({ model: t.model, pid: server.pid, url: server.url, ready_ms: server.readyMs, ctx_size: t.ctxSize!, log });
        o.onEvent?.({ type: 'server-ready', model: t.model, url: server.url, pid: server.pid, readyMs: server.readyMs });
      }
      const modelName = o.endpoint === null ? t.model.split('/').pop()!.replace(/\.gguf$/i, '') : t.model;
      const common = { backend: o.replay.backend, endpoint: endpoint!, apiKey: o.replay.apiKey, fetch: o.replay.fetch, clock: o.replay.clock, model: modelName, content: o.replay.content, signal };
      const bustBase = () => (o.cacheBust ? `run-${nonce()}` : null);
      // `load` once per server; `prefix` before every repeat (with its own marker when cache-busting).
      if (o.warmup !== 'none') o.onEvent?.({ type: 'warmup', model: t.model, result: await warmUp('load', { ...common, plan: o.plan, marker: null }) });
      for (const [users, plan] of plans) {
        for (let k = 1; k <= o.repeats; k++) {
          if (signal?.aborted) break;
          if (o.warmup === 'prefix') o.onEvent?.({ type: 'warmup', model: t.model, result: await warmUp('prefix', { ...common, plan, marker: o.cacheBust ? `warmup-${nonce()}` : null }) });
          if (signal?.aborted) break;
          const label = `${modelName}${plans.size > 1 ? ` ×${users}` : ''}${o.repeats > 1 ? ` #${k}` : ''}`;
          const result = await runReplay({
            ...o.replay,
            plan,
            endpoint: endpoint!,
            model: modelName,
            cacheBust: bustBase(),
            onProgress: (d, n) => o.onProgress?.(label, d, n),
            config: { ...o.replay.config, warmup: o.warmup, repeat: k, repeats: o.repeats, users, stagger_s: o.staggerMs / 1000, idle_gap_cap_s: o.idleGapCapS, server: serverConfig },
          });
          const file = writeResult(o.out, result);
          out.runs.push({ file, result });
          o.onEvent?.({ type: 'run-done', file, result });
          if (result.status === 'interrupted') break;
        }
      }
    } finally {
      if (server) {
        await server.stop();
        o.onEvent?.({ type: 'server-stopped', model: t.model, pid: server.pid });
      }
    }
  }
  out.interrupted = signal?.aborted ?? false;
  out.capacity = capacityOf(out.runs.map((r) => r.result));
  return out;
}

