import type { CacheStats, Engine, GenerateEvent, GenerateRequest } from '../../src/serve/engine.js';

/**
 * Deterministic scripted engine for HTTP-layer tests: one token per UTF-16 code unit, a real prefix cache
 * (longest common prefix against the token sequences of earlier requests, prompt + output, LRU by bytes), and
 * an output script (a function of the prompt text) emitted one token per event, yielding to the event loop
 * between tokens so streaming is observable. `gate` lets a test hold generation to exercise the queue.
 */
export interface FakeEngineOptions {
  script?: (prompt: string) => string;
  cacheBytes?: number;
  kvBytesPerToken?: number;
  contextSize?: number;
  gate?: () => Promise<void>;
  /** Awaited after the given number of tokens were emitted (to observe a stream mid-generation). */
  midGate?: { afterTokens: number; wait: () => Promise<void> };
  /** The model's Jinja chat template (and its BOS/EOS texts), as a GGUF would carry it. */
  chatTemplateSource?: string;
  bosToken?: string;
  eosToken?: string;
}

export class FakeEngine implements Engine {
  readonly info;
  private entries: number[][] = [];
  private stats: CacheStats;
  aborted = 0;
  lastPrompt = '';
  readonly prompts: string[] = [];
  constructor(private readonly o: FakeEngineOptions = {}) {
    this.info = {
      engine: 'fake',
      modelId: 'fake-model',
      contextSize: o.contextSize ?? 100_000,
      chatTemplate: 'qwen3',
      ...(o.chatTemplateSource !== undefined ? { chatTemplateSource: o.chatTemplateSource } : {}),
      ...(o.bosToken !== undefined ? { bosToken: o.bosToken } : {}),
      ...(o.eosToken !== undefined ? { eosToken: o.eosToken } : {}),
      kvBytesPerToken: o.kvBytesPerToken ?? 16,
      stopTokens: [],
    };
    this.stats = { hits: 0, misses: 0, cachedTokens: 0, evaluatedTokens: 0, bytes: 0, capacityBytes: o.cacheBytes ?? 1 << 30, entries: 0, evictions: 0 };
  }
  async tokenize(text: string): Promise<number[]> {
    return Array.from(text, (c) => c.charCodeAt(0));
  }
  async detokenize(tokens: number[]): Promise<string> {
    return String.fromCharCode(...tokens);
  }
  cacheStats(): CacheStats {
    return { ...this.stats };
  }
  async close(): Promise<void> {}

  async *generate(req: GenerateRequest): AsyncIterable<GenerateEvent> {
    const prompt = String.fromCharCode(...req.promptTokens);
    this.lastPrompt = prompt;
    this.prompts.push(prompt);
    let cached = 0;
    if (this.stats.capacityBytes > 0) {
      for (const e of this.entries) {
        let n = 0;
        while (n < e.length && n < req.promptTokens.length - 1 && e[n] === req.promptTokens[n]) n++;
        cached = Math.max(cached, n);
      }
    }
    if (cached > 0) this.stats.hits++;
    else this.stats.misses++;
    this.stats.cachedTokens += cached;
    this.stats.evaluatedTokens += req.promptTokens.length - cached;
    await new Promise((r) => setImmediate(r));
    yield { type: 'prefill', promptTokens: req.promptTokens.length, cachedTokens: cached, prefillMs: req.promptTokens.length - cached };
    if (this.o.gate) await this.o.gate();
    const script = this.o.script ?? (() => 'Hello from the fake engine.');
    const text = script(prompt);
    const out: number[] = [];
    let stopReason: 'stop' | 'length' | 'stop_sequence' | 'aborted' = 'stop';
    let stopSequence: string | undefined;
    let produced = '';
    for (const ch of text) {
      if (req.signal?.aborted) {
        stopReason = 'aborted';
        this.aborted++;
        break;
      }
      if (out.length >= req.maxTokens) {
        stopReason = 'length';
        break;
      }
      produced += ch;
      out.push(ch.charCodeAt(0));
      const hit = (req.stop ?? []).find((s) => produced.endsWith(s));
      if (hit) {
        stopReason = 'stop_sequence';
        stopSequence = hit;
        break;
      }
      yield { type: 'token', id: ch.charCodeAt(0), text: ch };
      if (this.o.midGate && out.length === this.o.midGate.afterTokens) await this.o.midGate.wait();
      await new Promise((r) => setImmediate(r));
    }
    if (this.stats.capacityBytes > 0) {
      this.entries.push([...req.promptTokens, ...out]);
      this.stats.entries = this.entries.length;
      this.stats.bytes = this.entries.reduce((s, e) => s + e.length * this.info.kvBytesPerToken, 0);
      while (this.stats.bytes > this.stats.capacityBytes && this.entries.length > 0) {
        const ev = this.entries.shift()!;
        this.stats.bytes -= ev.length * this.info.kvBytesPerToken;
        this.stats.evictions++;
        this.stats.entries = this.entries.length;
      }
    }
    yield { type: 'done', stopReason, stopSequence, promptTokens: req.promptTokens.length, cachedTokens: cached, outputTokens: out.length, prefillMs: req.promptTokens.length - cached, decodeMs: out.length };
  }
}
