import type { MessagesRequest } from '../shared/anthropic.js';
import type { ReplayPlan } from './types.js';

/**
 * The context a managed server needs for a trace (`trace replay --model` without `--ctx-size`): the largest
 * prompt + output of any request, estimated without loading the model, rounded up. Pure.
 *
 * Prompt size per request, in the target model's tokens:
 * - byte-level vocabularies (vocab ≤ 512, e.g. `trace model tiny`): the UTF-8 bytes of the request's system,
 *   messages and tools as JSON (one token per byte; the JSON quoting outweighs the chat template's framing);
 * - otherwise: the recorded context tokens (API usage) × 1.2 (tokenizers differ), or bytes / 3 when unrecorded.
 * Output = the max_tokens that will be sent. Plus a fixed margin for the chat template and cache-bust marker.
 */

export const CONTEXT_MARGIN_TOKENS = 256;
export const TOKENIZER_SLACK = 1.2;

export interface ContextNeed {
  /** Largest prompt + output estimate (tokens, margin included). */
  tokens: number;
  /** The request that needs it. */
  requestId: string | null;
  basis: 'bytes' | 'recorded' | 'bytes/3';
}

function promptBytes(body: MessagesRequest): number {
  return Buffer.byteLength(JSON.stringify({ system: body.system ?? null, messages: body.messages, tools: body.tools ?? null }), 'utf8');
}

/** `bodyOf` builds the body that will be sent (model, max_tokens, marker applied). */
export function traceContextNeed(plan: ReplayPlan, o: { byteLevel: boolean; bodyOf: (i: number) => MessagesRequest }): ContextNeed {
  let best: ContextNeed = { tokens: 0, requestId: null, basis: o.byteLevel ? 'bytes' : 'recorded' };
  plan.requests.forEach((req, i) => {
    const body = o.bodyOf(i);
    const out = typeof body.max_tokens === 'number' ? body.max_tokens : 0;
    let prompt: number;
    let basis: ContextNeed['basis'];
    if (o.byteLevel) {
      prompt = promptBytes(body);
      basis = 'bytes';
    } else if (req.recorded.promptTokens !== null && req.recorded.promptTokens > 0 && req.body !== null) {
      prompt = Math.ceil(req.recorded.promptTokens * TOKENIZER_SLACK);
      basis = 'recorded';
    } else {
      prompt = Math.ceil(promptBytes(body) / 3);
      basis = 'bytes/3';
    }
    const need = prompt + out + CONTEXT_MARGIN_TOKENS;
    if (need > best.tokens) best = { tokens: need, requestId: req.id, basis };
  });
  return best;
}

/** The context to start a server with: the next power of two ≥ need when the model holds it, else need rounded up to 1k. */
export function roundContext(need: number, trainContext: number): number {
  let p = 1024;
  while (p < need) p *= 2;
  if (p <= trainContext) return p;
  return Math.ceil(need / 1024) * 1024;
}

export type ContextFit =
  | { ok: true; ctxSize: number; source: 'flag' | 'trace' }
  | { ok: false; reason: string };

/** Whether a model with `trainContext` holds the trace; the context size to start it with. */
export function fitContext(model: string, need: ContextNeed, trainContext: number, requested?: number): ContextFit {
  if (requested !== undefined) {
    if (requested > trainContext) return { ok: false, reason: `${model}: --ctx-size ${requested} exceeds the model's trained context ${trainContext}` };
    return { ok: true, ctxSize: requested, source: 'flag' };
  }
  if (need.tokens > trainContext) {
    return {
      ok: false,
      reason: `${model}: trained context ${trainContext} tokens cannot hold the trace — request ${need.requestId} needs about ${need.tokens} (prompt + output, estimated from ${need.basis})`,
    };
  }
  const ctx = roundContext(need.tokens, trainContext);
  return { ok: true, ctxSize: Math.min(ctx, trainContext), source: 'trace' };
}
