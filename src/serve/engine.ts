/**
 * The engine protocol shared by every inference engine behind `trace serve` (registry in ./engines/index.ts;
 * one contract test suite in test/serve/engine-contract.test.ts that every engine passes — the llama engine
 * in-process, the MLX worker through its stdio JSON-lines protocol against a Python test double of mlx_lm).
 *
 * The HTTP layer renders a chat template to a prompt, tokenises it with the engine, and calls `generate`.
 * The engine owns the KV prompt cache (src/serve/prompt-cache.ts, shared TS logic): it reports the REAL number
 * of prompt tokens it reused (cachedTokens) and evaluated (promptTokens - cachedTokens).
 */

export interface EngineInfo {
  /** Engine registry key ('llama', 'mlx'). */
  engine: string;
  /** Model id exposed on /v1/models. */
  modelId: string;
  /** Max tokens of context (prompt + output). */
  contextSize: number;
  /** How contextSize was chosen (trained context, memory cap or --ctx-size) and why. */
  contextChoice?: import('./context-size.js').ContextChoice;
  /** Chat template family ('qwen3', 'chatml', 'llama3', 'raw', …): the fallback renderer when there is no Jinja template. */
  chatTemplate: string;
  /** Jinja chat template from the model file when present: the HTTP layer renders prompts with it. */
  chatTemplateSource?: string;
  /** Text of the BOS / EOS tokens (the template's `bos_token` / `eos_token`). */
  bosToken?: string;
  eosToken?: string;
  /** Bytes of KV cache per token (for --cache-bytes accounting and /metrics). */
  kvBytesPerToken: number;
  /** Token ids that end generation (EOS / EOT). */
  stopTokens: number[];
}

export interface GenerateRequest {
  /** Prompt token ids (the HTTP layer tokenises with `tokenize`). */
  promptTokens: number[];
  maxTokens: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  /** Text stop sequences (checked by the engine on the detokenised stream). */
  stop?: string[];
  /** Aborting stops generation promptly (client disconnect). */
  signal?: AbortSignal;
  /**
   * GBNF grammar (llama.cpp syntax, root rule `root`) constraining every sampled token; generation ends when the
   * grammar is complete (stopReason 'stop'), or at EOS / max tokens / a stop sequence. It does not affect prompt
   * (prefill) reuse. Engines that cannot apply it throw EngineError. (Compatible extension; see
   * src/serve/tool-grammar.ts.)
   */
  grammar?: string;
}

export type GenerateEvent =
  /** Emitted once, after prefill: how much of the prompt came from the KV cache. */
  | { type: 'prefill'; promptTokens: number; cachedTokens: number; prefillMs: number }
  /** One generated token as soon as it is sampled (text may be '' for partial UTF-8 sequences). */
  | { type: 'token'; id: number; text: string }
  | {
      type: 'done';
      stopReason: 'stop' | 'length' | 'stop_sequence' | 'aborted';
      stopSequence?: string;
      /**
       * Text held back because it could have begun a stop sequence and released at the end (rare; '' or
       * absent normally). Append it after the last token's text. (Compatible extension.)
       */
      trailingText?: string;
      promptTokens: number;
      cachedTokens: number;
      outputTokens: number;
      prefillMs: number;
      decodeMs: number;
    };

export interface CacheStats {
  hits: number;
  misses: number;
  /** Sum of reused prompt tokens over all requests. */
  cachedTokens: number;
  /** Sum of prompt tokens evaluated (not reused). */
  evaluatedTokens: number;
  bytes: number;
  capacityBytes: number;
  entries: number;
  evictions: number;
}

export interface Engine {
  readonly info: EngineInfo;
  tokenize(text: string): Promise<number[]>;
  detokenize(tokens: number[]): Promise<string>;
  /** Streams events; the last one is always `done` (also on abort). Throws EngineError on engine failure. */
  generate(req: GenerateRequest): AsyncIterable<GenerateEvent>;
  cacheStats(): CacheStats;
  close(): Promise<void>;
}

export interface EngineOptions {
  modelPath: string;
  /** KV prompt-cache budget in bytes; 0 disables prompt caching (every request prefills from scratch). */
  cacheBytes: number;
  contextSize?: number;
  /** Parallel sequences / slots. */
  slots?: number;
  threads?: number;
  /** Free RAM in bytes (the CLI passes os.freemem()); caps the default context on CPU. */
  freeMemoryBytes?: number;
  logger?: import('../shared/logger.js').Logger;
  /** llama: GPU backend; 'auto' (default) = Metal/CUDA/Vulkan when present, false = CPU. (Compatible extension.) */
  gpu?: 'auto' | false | 'cuda' | 'metal' | 'vulkan';
  /** mlx: how to run the Python worker (defaults: python3, mlx-server/worker.py). (Compatible extension.) */
  mlx?: {
    python?: string;
    workerScript?: string;
    /** Extra PYTHONPATH entries (tests put the mlx_lm test double here). */
    pythonPath?: string[];
    /** The environment the worker starts from (the CLI passes process.env). */
    baseEnv?: Record<string, string | undefined>;
    env?: Record<string, string>;
    startTimeoutMs?: number;
    restartBaseMs?: number;
    restartMaxMs?: number;
    maxRestarts?: number;
    shutdownTimeoutMs?: number;
  };
}

export type EngineFactory = (options: EngineOptions) => Promise<Engine>;
