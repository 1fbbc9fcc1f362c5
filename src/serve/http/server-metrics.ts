import type { CacheStats } from '../engine.js';

/** Counters of the HTTP server (+ the engine's cache stats) for GET /metrics, as JSON or Prometheus text. */
export class ServerMetrics {
  requests = 0;
  errors = 0;
  promptTokens = 0;
  cachedTokens = 0;
  evaluatedTokens = 0;
  outputTokens = 0;
  prefillMs = 0;
  decodeMs = 0;
  private ttftSumMs = 0;
  private ttftCount = 0;

  recordDone(d: { promptTokens: number; cachedTokens: number; outputTokens: number; prefillMs: number; decodeMs: number }): void {
    this.promptTokens += d.promptTokens;
    this.cachedTokens += d.cachedTokens;
    this.evaluatedTokens += d.promptTokens - d.cachedTokens;
    this.outputTokens += d.outputTokens;
    this.prefillMs += d.prefillMs;
    this.decodeMs += d.decodeMs;
  }
  recordTtft(ms: number): void {
    this.ttftSumMs += ms;
    this.ttftCount++;
  }

  snapshot(cache: CacheStats, queue: { active: number; depth: number; rejected: number; slots: number; maxQueue: number }) {
    return {
      requests: this.requests,
      errors: this.errors,
      queue: { active: queue.active, depth: queue.depth, rejected: queue.rejected, slots: queue.slots, max_queue: queue.maxQueue },
      cache: {
        hits: cache.hits,
        misses: cache.misses,
        cached_tokens: cache.cachedTokens,
        evaluated_tokens: cache.evaluatedTokens,
        bytes: cache.bytes,
        capacity_bytes: cache.capacityBytes,
        entries: cache.entries,
        evictions: cache.evictions,
      },
      tokens: { prompt: this.promptTokens, cached: this.cachedTokens, evaluated: this.evaluatedTokens, output: this.outputTokens },
      prefill_tokens_per_s: this.prefillMs > 0 ? (this.evaluatedTokens / this.prefillMs) * 1000 : null,
      decode_tokens_per_s: this.decodeMs > 0 ? (this.outputTokens / this.decodeMs) * 1000 : null,
      mean_ttft_ms: this.ttftCount > 0 ? this.ttftSumMs / this.ttftCount : null,
    };
  }
}

export type MetricsSnapshot = ReturnType<ServerMetrics['snapshot']>;

/** The exposed series: name (after `trace_serve_`), type, help, and where the value sits in a snapshot. */
const SERIES: readonly (readonly [string, 'counter' | 'gauge', string, (s: MetricsSnapshot) => number | null])[] = [
  ['requests_total', 'counter', 'Generation requests received.', (s) => s.requests],
  ['errors_total', 'counter', 'Requests that failed.', (s) => s.errors],
  ['queue_rejected_total', 'counter', 'Requests refused because the queue was full.', (s) => s.queue.rejected],
  ['queue_depth', 'gauge', 'Requests waiting for a slot.', (s) => s.queue.depth],
  ['active_requests', 'gauge', 'Requests generating now.', (s) => s.queue.active],
  ['cache_hits_total', 'counter', 'Requests that reused a cached prefix.', (s) => s.cache.hits],
  ['cache_misses_total', 'counter', 'Requests that reused nothing.', (s) => s.cache.misses],
  ['cache_cached_tokens_total', 'counter', 'Prompt tokens reused from the KV cache.', (s) => s.cache.cached_tokens],
  ['cache_evaluated_tokens_total', 'counter', 'Prompt tokens evaluated (not reused).', (s) => s.cache.evaluated_tokens],
  ['cache_bytes', 'gauge', 'Bytes of KV state held by the prompt cache.', (s) => s.cache.bytes],
  ['cache_capacity_bytes', 'gauge', 'Prompt cache budget in bytes.', (s) => s.cache.capacity_bytes],
  ['cache_entries', 'gauge', 'Cached prefixes.', (s) => s.cache.entries],
  ['cache_evictions_total', 'counter', 'Prompt cache evictions.', (s) => s.cache.evictions],
  ['output_tokens_total', 'counter', 'Generated tokens.', (s) => s.tokens.output],
  ['prefill_tokens_per_second', 'gauge', 'Evaluated prompt tokens per second of prefill (cumulative).', (s) => s.prefill_tokens_per_s],
  ['decode_tokens_per_second', 'gauge', 'Generated tokens per second of decode (cumulative).', (s) => s.decode_tokens_per_s],
];

/** Prometheus text exposition (version 0.0.4) of a snapshot; series without a value yet are left out. */
export function prometheusText(s: MetricsSnapshot): string {
  const lines: string[] = [];
  for (const [name, type, help, value] of SERIES) {
    const v = value(s);
    if (v !== null) lines.push(`# HELP trace_serve_${name} ${help}`, `# TYPE trace_serve_${name} ${type}`, `trace_serve_${name} ${v}`);
  }
  return lines.join('\n') + '\n';
}
