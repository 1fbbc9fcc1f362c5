import { randomBytes } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { errorMessage } from '../../shared/errors.js';
import type { Engine } from '../engine.js';
import { grammarForPrompt, type ToolGrammarConfig } from '../tool-grammar.js';
import { HttpError, badRequest } from './api-error.js';
import { renderPrompt } from './chat-template.js';
import type { ToolCallFormat } from './jinja-template.js';
import type { ChatPrompt, GenerationParams } from './chat-types.js';
import type { RequestQueue } from './request-queue.js';
import type { ServerMetrics } from './server-metrics.js';
import { ThinkSplitter } from './think-splitter.js';
import { ToolCallStreamParser } from './tool-call-parser.js';

/**
 * The API-neutral generation pipeline both front ends share: render → tokenise → admit (queue) → engine
 * → tool-call parsing, delivered as events to a sink AS the engine produces tokens (one `text` event per
 * engine token event, except text held back because it may start a tool call).
 */

export interface ServeDeps {
  engine: Engine;
  queue: RequestQueue;
  metrics: ServerMetrics;
  clock: Clock;
  logger: Logger;
  /** Server-side cap on max_tokens (0 = none). */
  maxOutputTokens?: number;
  /** `--tool-grammar`: constrain some replies to one well-formed tool call (src/serve/tool-grammar.ts). */
  toolGrammar?: ToolGrammarConfig;
}

export type StopKind = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'aborted';

export interface GenerationUsage {
  promptTokens: number;
  cachedTokens: number;
  /** Prompt tokens newly written to the engine's prompt cache (0 when caching is disabled). */
  cacheCreationTokens: number;
  outputTokens: number;
}

export type CoreEvent =
  | { type: 'start'; promptTokens: number; cachedTokens: number; cacheCreationTokens: number; prefillMs: number }
  | { type: 'text'; text: string }
  /** Reasoning from a leading <think>…</think> (only when the request asked for reasoning output). */
  | { type: 'thinking'; text: string }
  | { type: 'tool_call'; id: string; name: string; arguments: Record<string, unknown> }
  | { type: 'done'; stop: StopKind; stopSequence: string | null; usage: GenerationUsage; prefillMs: number; decodeMs: number }
  | { type: 'error'; message: string };

export interface PreparedGeneration {
  promptTokens: number[];
  maxTokens: number;
  release: () => void;
  run(sink: (e: CoreEvent) => void, signal: AbortSignal): Promise<void>;
}

export function newId(prefix: string): string {
  return prefix + randomBytes(12).toString('hex');
}

/** Renders and tokenises a prompt (for count_tokens and generation). */
export async function tokenizePrompt(engine: Engine, prompt: ChatPrompt, continueLast = true): Promise<{ tokens: number[]; templateStops: string[]; toolFormat: ToolCallFormat }> {
  const r = renderPrompt(engine.info, prompt, { continueLast });
  const tokens = await engine.tokenize(r.text);
  return { tokens, templateStops: r.templateStops, toolFormat: r.toolFormat ?? 'hermes' };
}

/**
 * Validates length and takes a queue slot (throws HttpError 400 / overloaded before any response is sent);
 * `run` then streams events and always releases the slot.
 */
export async function prepareGeneration(
  deps: ServeDeps,
  prompt: ChatPrompt,
  params: GenerationParams,
  opts: { continueLast: boolean; toolCallIdPrefix: string; signal?: AbortSignal; reasoning?: boolean },
): Promise<PreparedGeneration> {
  const { engine } = deps;
  const { tokens, templateStops, toolFormat } = await tokenizePrompt(engine, prompt, opts.continueLast);
  const ctx = engine.info.contextSize;
  if (tokens.length >= ctx) throw badRequest(`prompt is too long: ${tokens.length} tokens > ${ctx - 1} maximum (the server's context is ${ctx} tokens; see --ctx-size)`, 'messages');
  const cap = deps.maxOutputTokens && deps.maxOutputTokens > 0 ? deps.maxOutputTokens : Infinity;
  const maxTokens = Math.max(1, Math.min(params.maxTokens, ctx - tokens.length, cap));
  // The server cap (--max-output-tokens) ends the turn like an end-of-turn token would: tiny test models never
  // emit EOS, and clients treat max_tokens as an error. Hitting the request's own max_tokens stays max_tokens.
  const serverCapped = cap < params.maxTokens && cap <= ctx - tokens.length;
  const grammar = grammarForPrompt(deps.toolGrammar, prompt);
  const release = await deps.queue.acquire(opts.signal);
  const cacheEnabled = () => engine.cacheStats().capacityBytes > 0;
  return {
    promptTokens: tokens,
    maxTokens,
    release,
    async run(sink, signal) {
      const started = deps.clock.monotonic();
      let firstToken = true;
      const parser = new ToolCallStreamParser(prompt.tools, toolFormat);
      let sawTool = false;
      const emitPieces = (pieces: ReturnType<ToolCallStreamParser['push']>) => {
        for (const p of pieces) {
          if (p.type === 'text') sink({ type: 'text', text: p.text });
          else {
            sawTool = true;
            sink({ type: 'tool_call', id: newId(opts.toolCallIdPrefix), name: p.name, arguments: p.arguments });
          }
        }
      };
      const think = opts.reasoning ? new ThinkSplitter() : null;
      const feed = (p: { type: 'thinking' | 'text'; text: string }) => {
        if (p.type === 'thinking') sink({ type: 'thinking', text: p.text });
        // Without tools in the request nothing is parsed as a tool call: text passes straight through.
        else if (prompt.tools.length > 0) emitPieces(parser.push(p.text));
        else sink({ type: 'text', text: p.text });
      };
      deps.metrics.requests++;
      try {
        const userStops = params.stop;
        for await (const ev of engine.generate({
          promptTokens: tokens,
          maxTokens,
          temperature: params.temperature,
          topP: params.topP,
          seed: params.seed,
          stop: [...userStops, ...templateStops.filter((s) => !userStops.includes(s))],
          signal,
          ...(grammar !== undefined ? { grammar } : {}),
        })) {
          if (ev.type === 'prefill') {
            const creation = cacheEnabled() ? ev.promptTokens - ev.cachedTokens : 0;
            sink({ type: 'start', promptTokens: ev.promptTokens, cachedTokens: ev.cachedTokens, cacheCreationTokens: creation, prefillMs: ev.prefillMs });
          } else if (ev.type === 'token') {
            if (firstToken) {
              firstToken = false;
              deps.metrics.recordTtft(deps.clock.monotonic() - started);
            }
            if (ev.text !== '') {
              if (think) for (const p of think.push(ev.text)) feed(p);
              else feed({ type: 'text', text: ev.text });
            }
          } else {
            if (think) for (const p of think.end()) feed(p);
            if (prompt.tools.length > 0) emitPieces(parser.end());
            deps.metrics.recordDone(ev);
            let stop: StopKind;
            let stopSequence: string | null = null;
            if (ev.stopReason === 'aborted') stop = 'aborted';
            else if (ev.stopReason === 'length') stop = serverCapped ? 'end_turn' : 'max_tokens';
            else if (ev.stopReason === 'stop_sequence' && ev.stopSequence !== undefined && userStops.includes(ev.stopSequence)) {
              stop = 'stop_sequence';
              stopSequence = ev.stopSequence;
            } else stop = 'end_turn';
            if (sawTool && (stop === 'end_turn' || stop === 'stop_sequence')) {
              stop = 'tool_use';
              stopSequence = null;
            }
            const creation = cacheEnabled() ? ev.promptTokens - ev.cachedTokens : 0;
            sink({
              type: 'done',
              stop,
              stopSequence,
              usage: { promptTokens: ev.promptTokens, cachedTokens: ev.cachedTokens, cacheCreationTokens: creation, outputTokens: ev.outputTokens },
              prefillMs: ev.prefillMs,
              decodeMs: ev.decodeMs,
            });
            return;
          }
        }
        throw new Error('engine stream ended without a done event');
      } catch (e) {
        deps.metrics.errors++;
        deps.logger.warn(`generation failed: ${errorMessage(e)}`);
        sink({ type: 'error', message: errorMessage(e) });
      } finally {
        release();
      }
    },
  };
}

export function isHttpError(e: unknown): e is HttpError {
  return e instanceof HttpError;
}
