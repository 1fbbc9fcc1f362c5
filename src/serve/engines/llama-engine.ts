/**
 * `llama` engine: any GGUF through node-llama-cpp (llama.cpp; GPU auto-detected: Metal/CUDA/Vulkan where
 * present, else CPU). One LlamaContext with N context sequences (slots); each slot keeps its KV state between
 * requests. The PromptCache trie maps token prefixes to slots: a request takes the free slot with the longest
 * common prefix unless that would overwrite more cached tokens than it reuses (then the empty / least
 * recently used slot), the divergent tail is erased (eraseContextTokenRanges) and only the suffix is evaluated.
 * cachedTokens is measured: prompt tokens minus the tokens the sequence's TokenMeter saw evaluated in prefill.
 * At least the last prompt token is always evaluated (its logits sample the first output token), so an
 * identical repeated prompt reports cachedTokens = promptTokens - 1.
 * A request's `grammar` (GBNF) is compiled once per distinct text (small LRU) and applied through a fresh
 * LlamaGrammarEvaluationState per request: llama.cpp's grammar sampler constrains every sampled token, and once
 * the grammar is complete only end-of-generation tokens remain allowed, so generation stops ('stop'). Prefill and
 * cache accounting are unchanged (the grammar only acts on sampling).
 */
import { availableParallelism, freemem } from 'node:os';
import type { Llama, LlamaContext, LlamaContextSequence, LlamaGrammar, LlamaGrammarEvaluationState, LlamaModel, Token } from 'node-llama-cpp';
import { EngineError, AbortedError, errorMessage } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import type { CacheStats, Engine, EngineInfo, EngineOptions, GenerateEvent, GenerateRequest } from '../engine.js';
import { PromptCache } from '../prompt-cache.js';
import { chooseContextSize, type ContextChoice } from '../context-size.js';
import { kvBytesPerTokenFromMetadata, readGgufModelInfo } from '../gguf/gguf-info.js';
import { SlotPool } from './slot-pool.js';
import { StopTextStream } from './stop-text.js';
import { templateFamilyOf } from '../templates/index.js';
import { abortedBeforeStart, doneEvent, type StopReason } from './done-event.js';

interface Slot {
  id: string;
  seq: LlamaContextSequence;
}

export type LlamaEngineOptions = EngineOptions;

export async function createLlamaEngine(options: LlamaEngineOptions): Promise<Engine> {
  const logger = options.logger ?? silentLogger;
  const nlc = await import('node-llama-cpp');
  let llama: Llama | undefined;
  let model: LlamaModel | undefined;
  let context: LlamaContext | undefined;
  try {
    llama = await nlc.getLlama({
      gpu: options.gpu ?? 'auto',
      build: 'never',
      logLevel: nlc.LlamaLogLevel.warn,
      logger: (level, message) => {
        const m = message.trimEnd();
        if (m) (level === nlc.LlamaLogLevel.error || level === nlc.LlamaLogLevel.fatal ? logger.error : logger.debug)(`llama.cpp: ${m}`);
      },
    });
    const slotCount = Math.max(1, options.slots ?? 2);
    const fileInfo = await readGgufModelInfo(options.modelPath);
    // Free memory the KV cache competes for: VRAM when a GPU backend is active, else RAM (injected by the CLI).
    const availableBytes = llama.gpu !== false ? (await llama.getVramState()).free : (options.freeMemoryBytes ?? freemem());
    const choice = chooseContextSize({
      trainContext: fileInfo.trainContext,
      kvBytesPerToken: fileInfo.kvBytesPerToken,
      slots: slotCount,
      availableBytes,
      weightsBytes: fileInfo.fileBytes,
      ...(options.contextSize !== undefined ? { requested: options.contextSize } : {}),
    });
    model = await llama.loadModel({ modelPath: options.modelPath });
    context = await model.createContext({
      contextSize: choice.contextSize,
      sequences: slotCount,
      // llama.cpp's worker threads spin-wait: using every core starves the event loop and other processes, so
      // default to one core fewer than available.
      threads: options.threads ?? Math.max(1, availableParallelism() - 1),
    });
    return new LlamaEngine(llama, model, context, options, slotCount, nlc.LlamaGrammarEvaluationState, choice);
  } catch (e) {
    await context?.dispose().catch(() => {});
    await model?.dispose().catch(() => {});
    await llama?.dispose().catch(() => {});
    throw new EngineError(`llama engine: cannot load ${options.modelPath}: ${errorMessage(e)}`, { cause: e });
  }
}

class LlamaEngine implements Engine {
  readonly info: EngineInfo;
  private readonly cache: PromptCache;
  private readonly pool: SlotPool<Slot>;
  /** Compiled grammars by GBNF text, least recently used first. */
  private readonly grammars = new Map<string, LlamaGrammar>();
  private closed = false;

  constructor(
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    options: EngineOptions,
    slotCount: number,
    private readonly GrammarState: typeof LlamaGrammarEvaluationState,
    choice: ContextChoice,
  ) {
    const meta = model.fileInfo.metadata as unknown as Record<string, unknown>;
    const tpl = (meta.tokenizer as { chat_template?: string } | undefined)?.chat_template;
    const kvBytesPerToken = kvBytesPerTokenFromMetadata(meta);
    const stop = new Set<number>();
    for (const t of [model.tokens.eos, model.tokens.eot]) if (t != null) stop.add(t);
    const generalName = (meta.general as { name?: string } | undefined)?.name;
    this.info = Object.freeze({
      engine: 'llama',
      modelId: generalName ?? options.modelPath.split('/').pop()!.replace(/\.gguf$/i, ''),
      contextSize: context.contextSize,
      contextChoice: { ...choice, contextSize: context.contextSize },
      chatTemplate: templateFamilyOf(tpl),
      ...(tpl ? { chatTemplateSource: tpl } : {}),
      ...(model.tokens.bosString ? { bosToken: model.tokens.bosString } : {}),
      ...(model.tokens.eosString ? { eosToken: model.tokens.eosString } : {}),
      kvBytesPerToken,
      stopTokens: [...stop],
    });
    this.cache = new PromptCache({ capacityBytes: options.cacheBytes, kvBytesPerToken });
    const slots: Slot[] = [];
    for (let i = 0; i < slotCount; i++) slots.push({ id: `slot${i}`, seq: context.getSequence() });
    this.pool = new SlotPool(slots);
  }

  async tokenize(text: string): Promise<number[]> {
    return [...this.model.tokenize(text, true)];
  }

  async detokenize(tokens: number[]): Promise<string> {
    return this.model.detokenize(tokens as Token[], true);
  }

  cacheStats(): CacheStats {
    return this.cache.stats();
  }

  /** Parses (or reuses) a GBNF grammar; a grammar llama.cpp cannot parse is an EngineError. */
  private async grammarFor(text: string): Promise<LlamaGrammar> {
    const hit = this.grammars.get(text);
    if (hit) {
      this.grammars.delete(text);
      this.grammars.set(text, hit);
      return hit;
    }
    let g: LlamaGrammar;
    try {
      g = await this.llama.createGrammar({ grammar: text });
    } catch (e) {
      throw new EngineError(`llama engine: invalid grammar: ${errorMessage(e)}`, { cause: e });
    }
    this.grammars.set(text, g);
    if (this.grammars.size > 8) this.grammars.delete(this.grammars.keys().next().value!);
    return g;
  }

  async *generate(req: GenerateRequest): AsyncGenerator<GenerateEvent> {
    if (this.closed) throw new EngineError('llama engine is closed');
    const prompt = req.promptTokens;
    if (prompt.length === 0) throw new EngineError('empty prompt');
    const nCtx = this.context.contextSize;
    if (prompt.length >= nCtx) throw new EngineError(`prompt of ${prompt.length} tokens does not fit the context (${nCtx})`, { details: { promptTokens: prompt.length, contextSize: nCtx } });
    const grammar = req.grammar !== undefined ? await this.grammarFor(req.grammar) : undefined;
    let slot: Slot;
    try {
      if (req.signal?.aborted) throw req.signal.reason;
      slot = await this.pool.acquire((free) => {
        // The free slot with the longest common prefix (trie), unless the request would overwrite more of its
        // cached tokens than it reuses (e.g. only the tools are shared): then the empty / least recently used one.
        const ids = new Set(free.map((s) => s.id));
        const m = this.cache.lookup(prompt, (id) => ids.has(id));
        const lost = m ? (this.cache.tokensOf(m.id)?.length ?? 0) - m.length : Infinity;
        const pick = m && lost <= m.length ? m.id : (this.cache.coldest([...ids]) ?? free[0]!.id);
        return free.find((s) => s.id === pick)!;
      }, req.signal);
    } catch {
      yield abortedBeforeStart(prompt.length);
      return;
    }
    try {
      yield* this.run(slot, req, performance.now(), grammar); // prefillMs counts from here, not from queueing
    } finally {
      this.pool.release(slot);
    }
  }

  /**
   * Keeps the slot's KV state for the longest common prefix with the prompt (at least one prompt token is always
   * evaluated) and erases the rest; returns how many tokens were kept.
   */
  private async reuseSlot(slot: Slot, prompt: number[]): Promise<number> {
    const seq = slot.seq;
    let keep = 0;
    if (this.cache.enabled && this.cache.has(slot.id)) {
      const held = seq.contextTokens;
      let lcp = 0;
      while (lcp < held.length && lcp < prompt.length && held[lcp] === prompt[lcp]) lcp++;
      keep = Math.min(lcp, prompt.length - 1);
    }
    this.cache.remove(slot.id); // the slot's contents are in flux until we re-insert them
    try {
      if (keep === 0) await seq.clearHistory();
      else if (seq.nextTokenIndex > keep) await seq.eraseContextTokenRanges([{ start: keep, end: seq.nextTokenIndex }]);
    } catch (e) {
      await seq.clearHistory().catch(() => {});
      throw new EngineError(`llama engine: cannot reuse KV state: ${errorMessage(e)}`, { cause: e });
    }
    return keep;
  }

  /** Prefill the suffix after the reused prefix, then decode token by token (stop tokens, max, stop strings, abort). */
  private async *run(slot: Slot, req: GenerateRequest, t0: number, grammar: LlamaGrammar | undefined): AsyncGenerator<GenerateEvent> {
    const prompt = req.promptTokens;
    const seq = slot.seq;
    const keep = await this.reuseSlot(slot, prompt);
    const evaluatedSoFar = () => seq.tokenMeter.usedInputTokens + seq.tokenMeter.usedOutputTokens;
    const meterIn = evaluatedSoFar();
    const maxTokens = Math.max(0, Math.min(req.maxTokens, this.context.contextSize - prompt.length));
    const stopIds = new Set(this.info.stopTokens);
    const text = new StopTextStream(req.stop ?? []);
    const out = new IncrementalDetokenizer(this.model);
    let cachedTokens = keep;
    let prefillMs = 0;
    let tPrefill = 0;
    // Every early exit below sets its own reason; the token stream ending by itself means node-llama-cpp sampled
    // an end-of-generation token (not yielded) — e.g. because a grammar is complete.
    let stopReason: StopReason = 'stop';
    let stopSequence: string | undefined;
    let trailing = '';
    const gen = seq.evaluate(prompt.slice(keep) as Token[], {
      temperature: req.temperature ?? 0,
      ...(req.topP !== undefined ? { topP: req.topP } : {}),
      ...(req.seed !== undefined ? { seed: req.seed } : {}),
      ...(grammar ? { grammarEvaluationState: new this.GrammarState({ model: this.model, grammar }) } : {}),
    });
    try {
      for await (const tok of gen) {
        if (tPrefill === 0) {
          tPrefill = performance.now();
          prefillMs = tPrefill - t0;
          cachedTokens = Math.max(0, prompt.length - (evaluatedSoFar() - meterIn));
          this.cache.record(prompt.length, cachedTokens);
          yield { type: 'prefill', promptTokens: prompt.length, cachedTokens, prefillMs };
        }
        if (req.signal?.aborted) {
          stopReason = 'aborted';
          break;
        }
        if (stopIds.has(tok) || out.length >= maxTokens) {
          stopReason = stopIds.has(tok) ? 'stop' : 'length';
          trailing = text.flush(out.text());
          break;
        }
        const r = text.push(out.push(tok));
        yield { type: 'token', id: tok, text: r.text };
        if (r.stopSequence !== undefined) {
          stopReason = 'stop_sequence';
          stopSequence = r.stopSequence;
          break;
        }
        if (req.signal?.aborted) {
          stopReason = 'aborted';
          break;
        }
      }
    } catch (e) {
      if (e instanceof AbortedError) stopReason = 'aborted';
      else throw new EngineError(`llama engine: generation failed: ${errorMessage(e)}`, { cause: e });
    } finally {
      await gen.return(undefined).catch(() => {});
      // Remember what this slot now holds (prompt + evaluated output tokens) for the next request. Evicted
      // slots are only forgotten here: llama.cpp preallocates the context's KV memory, and the next request
      // placed on a forgotten slot clears it before use (clearing it now could race with that request).
      this.cache.put(slot.id, seq.contextTokens, (id) => this.pool.isFree(id));
    }
    const decodeMs = tPrefill > 0 ? performance.now() - tPrefill : 0;
    yield doneEvent({ stopReason, stopSequence, trailingText: trailing, promptTokens: prompt.length, cachedTokens, outputTokens: out.length, prefillMs, decodeMs });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }
}

/**
 * Detokenises output incrementally: the text of tokens[0..start) is final (no partial UTF-8 at its end); only
 * the tail is re-detokenised each step, with a few preceding tokens as context (keeps long outputs O(n)).
 */
class IncrementalDetokenizer {
  private readonly tokens: Token[] = [];
  private committed = '';
  private start = 0;

  constructor(private readonly model: LlamaModel) {}

  get length(): number {
    return this.tokens.length;
  }

  /** Adds a token; returns the full text so far. */
  push(tok: Token): string {
    this.tokens.push(tok);
    return this.text();
  }

  text(): string {
    const out = this.tokens;
    const tail = this.model.detokenize(out.slice(this.start), false, out.slice(Math.max(0, this.start - 8), this.start));
    if (!tail.endsWith('\uFFFD') && out.length - this.start >= 4) {
      this.committed += tail;
      this.start = out.length;
      return this.committed;
    }
    return this.committed + tail;
  }
}
