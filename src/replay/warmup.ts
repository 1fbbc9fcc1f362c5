import { sendRequest, type FetchLike, type ReplayBackend } from './backends/backend.js';
import type { Clock } from '../shared/clock.js';
import { buildBody } from './runner.js';
import type { ContentMode, ReplayPlan } from './types.js';

/**
 * Warm-up before a measured run (`--warmup`):
 * - `none`: nothing;
 * - `load`: one tiny request, so weights and kernels are hot before the first measured TTFT;
 * - `prefix`: also each agent's first request once (max_tokens 1), so the run starts from a warm tools/system
 *   prefix as a long-running server would. With a cache-bust marker the warm-up requests carry their own marker
 *   (`marker`), so only the shared tools/system prefix is warm, not the measured conversations.
 * Failures are returned (counted by the caller), never thrown.
 */
export type WarmupMode = 'none' | 'load' | 'prefix';
export const WARMUP_MODES: readonly WarmupMode[] = ['none', 'load', 'prefix'];

export interface WarmupOptions {
  plan: ReplayPlan;
  backend: ReplayBackend;
  endpoint: string;
  apiKey: string;
  fetch: FetchLike;
  clock: Clock;
  model: string;
  content: ContentMode;
  /** Marker base for the prefix warm-up (null: the recorded first requests unchanged). */
  marker: string | null;
  signal?: AbortSignal;
}

export interface WarmupResult {
  requests: number;
  failed: number;
  first_error: string | null;
}

export async function warmUp(mode: WarmupMode, o: WarmupOptions): Promise<WarmupResult> {
  const out: WarmupResult = { requests: 0, failed: 0, first_error: null };
  if (mode === 'none') return out;
  const send = async (body: Parameters<typeof sendRequest>[1]) => {
    if (o.signal?.aborted) return;
    out.requests++;
    const r = await sendRequest(o.backend, body, { endpoint: o.endpoint, apiKey: o.apiKey, fetch: o.fetch, clock: o.clock, signal: o.signal }).catch((e: unknown) => ({ ok: false, error: String(e) }));
    if (!r.ok) {
      out.failed++;
      out.first_error ??= r.error ?? 'failed';
    }
  };
  await send({ model: o.model, max_tokens: 1, stream: true, messages: [{ role: 'user', content: 'Hello' }] });
  if (mode !== 'prefix') return out;
  const seen = new Set<string>();
  for (const req of o.plan.requests) {
    if (seen.has(req.agentKey) || req.copy !== 0) continue;
    seen.add(req.agentKey);
    await send(buildBody(req, { content: o.content, model: o.model, maxTokens: 1, plan: o.plan, cacheBust: o.marker }));
  }
  return out;
}
