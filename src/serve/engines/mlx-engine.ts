/**
 * `mlx` engine: mlx-lm in a supervised Python worker (mlx-server/worker.py, src/mlx/*). The TS PromptCache
 * trie decides which worker prompt cache to reuse and how far to trim it; the worker executes that on real
 * mlx-lm caches and reports what they hold. A prompt that extends a cached sequence reuses that cache in
 * place (also when it diverges only near the entry's end, e.g. the previous output re-tokenised); a prompt that
 * diverges far inside one (more than max(64, kept/4) tokens would be dropped) gets a trimmed copy and the
 * original stays cached. mlx-lm generates
 * one request at a time, so requests are serialised. cachedTokens = the cache's real offset after trimming
 * (tokens not evaluated); the last prompt token is always evaluated.
 */
import { EngineError, errorMessage } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import { mlxConfig } from '../../mlx/config.js';
import { MlxSupervisor } from '../../mlx/supervisor.js';
import type { WorkerClient, WorkerEvent } from '../../mlx/worker-client.js';
import type { CacheStats, Engine, EngineInfo, EngineOptions, GenerateEvent, GenerateRequest } from '../engine.js';
import { PromptCache } from '../prompt-cache.js';
import { chooseContextSize } from '../context-size.js';
import { templateFamilyOf } from '../templates/index.js';
import { abortedBeforeStart, doneEvent, type StopReason } from './done-event.js';
import { StopTextStream } from './stop-text.js';

export type MlxEngineOptions = EngineOptions;

export async function createMlxEngine(options: MlxEngineOptions): Promise<Engine> {
  const logger = options.logger ?? silentLogger;
  const sup = new MlxSupervisor(mlxConfig(options.modelPath, options.mlx ?? {}), logger);
  try {
    const info = await sup.start();
    return new MlxEngine(sup, info, options);
  } catch (e) {
    await sup.close().catch(() => {});
    throw new EngineError(`mlx engine: cannot start worker for ${options.modelPath}: ${errorMessage(e)}`, { cause: e });
  }
}

/** A tiny async queue: the worker's callbacks push, the generator pulls. */
class Channel<T> {
  private items: T[] = [];
  private wake: (() => void) | undefined;
  push(v: T): void {
    this.items.push(v);
    this.wake?.();
  }
  async next(): Promise<T> {
    while (this.items.length === 0) await new Promise<void>((r) => (this.wake = r));
    this.wake = undefined;
    return this.items.shift()!;
  }
}

interface ReusePlan {
  src: string | null;
  dst: string | null;
  keep: number;
  copy: boolean;
}

type Msg = { kind: 'event'; e: WorkerEvent } | { kind: 'result'; r: Record<string, unknown> } | { kind: 'error'; err: unknown };

class MlxEngine implements Engine {
  readonly info: EngineInfo;
  private cache: PromptCache;
  private lock: Promise<void> = Promise.resolve();
  private nextEntry = 0;
  private closed = false;

  constructor(private readonly sup: MlxSupervisor, w: NonNullable<MlxSupervisor['info']>, options: EngineOptions) {
    const tpl = w.chat_template ?? undefined;
    // Apple silicon has unified memory: the KV cache competes with the weights for RAM (injected by the CLI).
    const choice = chooseContextSize({
      trainContext: w.context_size,
      kvBytesPerToken: w.kv_bytes_per_token,
      slots: 1,
      ...(options.freeMemoryBytes !== undefined ? { availableBytes: options.freeMemoryBytes } : {}),
      ...(options.contextSize !== undefined ? { requested: options.contextSize } : {}),
    });
    this.info = Object.freeze({
      engine: 'mlx',
      modelId: w.model_id,
      contextSize: choice.contextSize,
      contextChoice: choice,
      chatTemplate: templateFamilyOf(tpl),
      ...(tpl ? { chatTemplateSource: tpl } : {}),
      ...(w.bos_token ? { bosToken: w.bos_token } : {}),
      ...(w.eos_token ? { eosToken: w.eos_token } : {}),
      kvBytesPerToken: w.kv_bytes_per_token,
      stopTokens: w.stop_tokens,
    });
    this.cache = new PromptCache({ capacityBytes: options.cacheBytes, kvBytesPerToken: w.kv_bytes_per_token });
    // a restarted worker has no prompt caches: forget the trie's entries (the counters stay)
    sup.onRestart = () => {
      for (const id of this.entryIds) this.cache.remove(id);
      this.entryIds.clear();
    };
  }

  private readonly entryIds = new Set<string>();

  async tokenize(text: string): Promise<number[]> {
    const c = await this.sup.get();
    return (await c.request('tokenize', { text }).result).tokens as number[];
  }

  async detokenize(tokens: number[]): Promise<string> {
    const c = await this.sup.get();
    return (await c.request('detokenize', { tokens }).result).text as string;
  }

  cacheStats(): CacheStats {
    return this.cache.stats();
  }

  async *generate(req: GenerateRequest): AsyncGenerator<GenerateEvent> {
    if (this.closed) throw new EngineError('mlx engine is closed');
    const prompt = req.promptTokens;
    if (prompt.length === 0) throw new EngineError('empty prompt');
    // mlx-lm has no GBNF sampler; refuse rather than silently generating unconstrained text.
    if (req.grammar !== undefined) throw new EngineError('mlx engine: grammar-constrained sampling (--tool-grammar) is not supported; use --engine llama');
    if (prompt.length >= this.info.contextSize) throw new EngineError(`prompt of ${prompt.length} tokens does not fit the context (${this.info.contextSize})`);
    // serialise: mlx-lm runs one generation at a time
    let release!: () => void;
    const prev = this.lock;
    this.lock = new Promise<void>((r) => (release = r));
    try {
      const aborted = await Promise.race([
        prev.then(() => false),
        new Promise<boolean>((r) => (req.signal?.aborted ? r(true) : req.signal?.addEventListener('abort', () => r(true), { once: true }))),
      ]);
      if (aborted) {
        // still wait for our turn before releasing, so the chain stays ordered
        void prev.then(release);
        yield abortedBeforeStart(prompt.length);
        return;
      }
      yield* this.run(req);
    } finally {
      void prev.then(release);
    }
  }

  /** The trie's decision: which worker cache to start from (src), where the result goes (dst), how much to keep. */
  private planReuse(prompt: number[]): ReusePlan {
    const plan: ReusePlan = { src: null, dst: null, keep: 0, copy: false };
    if (!this.cache.enabled) return plan;
    const m = this.cache.lookup(prompt);
    if (m) {
      plan.src = m.id;
      plan.keep = Math.min(m.length, prompt.length - 1);
      const held = this.cache.tokensOf(m.id)!.length;
      // Diverging far inside an entry (a sub-agent sharing only the tools/system prefix): trim a copy and keep
      // the original. Diverging near its end (the previous turn's output re-tokenised): trim in place.
      plan.copy = held - plan.keep > Math.max(64, plan.keep / 4);
    }
    plan.dst = plan.src !== null && !plan.copy ? plan.src : `c${this.nextEntry++}`;
    if (!plan.copy && plan.src !== null) this.cache.remove(plan.src); // reused in place: contents in flux
    return plan;
  }

  /** Records what the worker's cache `dst` now holds (prompt + the tokens fed back, maybe the EOS); drops evictions. */
  private settleCache(client: WorkerClient, dst: string | null, final: Record<string, unknown> | undefined, known: number[]): void {
    if (dst === null) return;
    if (!final) {
      this.cache.remove(dst);
      return;
    }
    const held = Math.min(Number(final.held), known.length + 1);
    const tokens = held <= known.length ? known.slice(0, held) : [...known, this.info.stopTokens[0] ?? -1];
    this.entryIds.add(dst);
    const evicted = this.cache.put(dst, tokens);
    for (const x of evicted) this.entryIds.delete(x);
    if (evicted.length) client.request('drop', { ids: evicted }).result.catch(() => {});
  }

  private async *run(req: GenerateRequest): AsyncGenerator<GenerateEvent> {
    const prompt = req.promptTokens;
    const t0 = performance.now();
    const client = await this.sup.get();
    const plan = this.planReuse(prompt);
    const ch = new Channel<Msg>();
    const { id, result } = client.request(
      'generate',
      { tokens: prompt, max_tokens: Math.max(1, Math.min(req.maxTokens, this.info.contextSize - prompt.length)), temperature: req.temperature ?? 0, top_p: req.topP ?? 0, seed: req.seed ?? null, ...plan },
      (e) => ch.push({ kind: 'event', e }),
    );
    result.then(
      (r) => ch.push({ kind: 'result', r }),
      (err: unknown) => ch.push({ kind: 'error', err }),
    );
    let cancelled = false;
    const cancel = () => {
      cancelled = true;
      client.cancel(id);
    };
    req.signal?.addEventListener('abort', cancel, { once: true });
    if (req.signal?.aborted) cancel();
    const text = new StopTextStream(req.stop ?? []);
    const out: number[] = [];
    let full = '';
    let cachedTokens = 0;
    let tFirst = 0;
    let stopSequence: string | undefined;
    let final: Record<string, unknown> | undefined;
    const limit = Math.max(0, req.maxTokens);
    const emitPrefill = (): GenerateEvent => {
      tFirst = performance.now();
      this.cache.record(prompt.length, cachedTokens);
      return { type: 'prefill', promptTokens: prompt.length, cachedTokens, prefillMs: tFirst - t0 };
    };
    try {
      for (let m = await ch.next(); m.kind !== 'result'; m = await ch.next()) {
        if (m.kind === 'error') throw m.err;
        const e = m.e;
        if (e.event === 'prefill') cachedTokens = Number(e.cached);
        if (e.event !== 'token' || cancelled) continue;
        if (tFirst === 0) yield emitPrefill();
        if (out.length >= limit) {
          cancel();
          continue;
        }
        out.push(Number(e.token));
        full += String(e.text ?? '');
        const r = text.push(full);
        yield { type: 'token', id: Number(e.token), text: r.text };
        if (r.stopSequence !== undefined) {
          stopSequence = r.stopSequence;
          cancel();
        }
      }
      final = await result;
    } catch (e) {
      throw e instanceof EngineError ? e : new EngineError(`mlx engine: ${errorMessage(e)}`, { cause: e });
    } finally {
      req.signal?.removeEventListener('abort', cancel);
      // consumer stopped early: stop the worker and wait, so the next request sees a settled cache
      if (!final) {
        client.cancel(id);
        final = await result.catch(() => undefined);
      }
      this.settleCache(client, plan.dst, final, [...prompt, ...out]);
    }
    const prefill = tFirst === 0 ? emitPrefill() : undefined;
    if (prefill) yield prefill;
    const reason = String(final?.finish_reason ?? 'aborted');
    const stopReason: StopReason =
      stopSequence !== undefined ? 'stop_sequence' : req.signal?.aborted || reason === 'aborted' ? (out.length >= limit ? 'length' : 'aborted') : reason === 'stop' ? 'stop' : 'length';
    full += String(final?.tail ?? '');
    const trailingText = stopSequence === undefined ? text.flush(full) : '';
    const prefillMs = tFirst - t0;
    yield doneEvent({ stopReason, stopSequence, trailingText, promptTokens: prompt.length, cachedTokens, outputTokens: out.length, prefillMs, decodeMs: performance.now() - tFirst });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.sup.close();
  }
}
