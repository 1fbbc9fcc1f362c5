import { distribution, quantileSorted, type Distribution } from '../analyze/percentiles.js';
import type { RequestRecord } from './types.js';
import { jobMetrics, type JobItem, type JobMetrics } from '../analyze/job-split.js';

/** Replay's latency summaries use the project's one percentile definition (src/analyze/percentiles.ts). */
export type Dist = Distribution;

export function dist(values: readonly (number | null | undefined)[]): Dist {
  return distribution(values);
}

export interface Slo {
  /** TTFT limit, seconds. */
  ttftS: number | null;
  /** TPOT limit, seconds. */
  tpotS: number | null;
}

export interface SelfAudit {
  schedule_lag_p99_ms: number | null;
  schedule_lag_max_ms: number | null;
  /** Client process CPU (user + system) over the run, ms, and as a share of one core. */
  client_cpu_ms: number;
  client_cpu_share: number | null;
  /** True when the client, not the server, probably limited the run (lag p99 > 50 ms or CPU > 90 % of a core). */
  client_bound: boolean;
  note: string;
}

export interface RunSummary {
  requests: { total: number; ok: number; failed: number; not_sent: number };
  ttft_ms: Dist;
  tpot_ms: Dist;
  itl_ms: Dist;
  e2e_ms: Dist;
  schedule_lag_ms: Dist;
  /** The source's recorded TTFT / API time of the same requests (ok ones), for side-by-side comparison. */
  recorded_ttft_ms: Dist;
  recorded_api_ms: Dist;
  output_tokens_total: number;
  prompt_tokens_total: number;
  /** Sum of uncached prompt tokens / sum of TTFT (s), over ok requests with both known. */
  prefill_tok_s: number | null;
  /** Sum of (output tokens − 1) / sum of (E2E − TTFT) (s), over ok requests. */
  decode_tok_s: number | null;
  /** Output tokens / run wall time (s). */
  output_tok_s: number | null;
  requests_per_s: number | null;
  cache: {
    /** Server-reported cached prompt tokens (sum). */
    server_cached_tokens: number | null;
    /** Expected cached tokens from the live simulation (sum over requests with hash ids). */
    expected_cached_tokens: number | null;
    /** Recorded API cache reads (sum). */
    recorded_cache_read_tokens: number | null;
    /**
     * Hit rates = cached / prompt tokens over the ok requests where both are known (expected: the block model's
     * own prompt token count; recorded: over every sent request).
     */
    server_hit_rate: number | null;
    expected_hit_rate: number | null;
    recorded_hit_rate: number | null;
  };
  slo: Slo;
  /** Requests (ok, meeting every given SLO) per second of wall time; null without SLOs. */
  goodput_rps: number | null;
  goodput_fraction: number | null;
  wall_ms: number;
  recorded_wall_ms: number | null;
  self_audit: SelfAudit;
  jobs: RunJobs;
}

/**
 * Job-level metrics (src/analyze/job-split.ts): per session and per agent, first send → last response end, split
 * into model time, tool time, user pause and other gaps — replayed (measured send/end times) beside recorded
 * (the source's offsets and API times, same requests).
 */
export interface RunJobs {
  replayed: JobMetrics;
  recorded: JobMetrics;
  /** 3600 s / median replayed session completion time: sessions one user completes per hour at this speed. */
  sessions_per_hour: number | null;
  recorded_sessions_per_hour: number | null;
}

/** Median (null for none). */
export function median(xs: readonly number[]): number | null {
  return quantileSorted([...xs].sort((a, b) => a - b), 0.5);
}

/** Job metrics of a run's records (sent requests only). */
export function runJobs(records: readonly RequestRecord[]): RunJobs {
  const replayed: JobItem[] = [];
  const recorded: JobItem[] = [];
  for (const r of records) {
    const base = { session: r.conversation_id, agent: r.agent, gapKind: r.gap_kind };
    replayed.push({ ...base, startMs: r.sent_at_ms, endMs: r.sent_at_ms + (r.e2e_ms ?? 0) });
    if (r.recorded.api_ms !== null) recorded.push({ ...base, startMs: r.recorded.offset_ms, endMs: r.recorded.offset_ms + r.recorded.api_ms });
  }
  const rep = jobMetrics(replayed);
  const rec = jobMetrics(recorded);
  const perHour = (m: JobMetrics) => {
    const med = median(m.sessions.map((s) => s.completion_ms));
    return med !== null && med > 0 ? 3_600_000 / med : null;
  };
  return { replayed: rep, recorded: rec, sessions_per_hour: perHour(rep), recorded_sessions_per_hour: perHour(rec) };
}

function ratio(num: number, den: number): number | null {
  return den > 0 ? num / den : null;
}

export function tpotOf(ttftMs: number | null, e2eMs: number | null, outputTokens: number | null): number | null {
  if (ttftMs === null || e2eMs === null || outputTokens === null || outputTokens < 2) return null;
  return (e2eMs - ttftMs) / (outputTokens - 1);
}

export function meetsSlo(r: RequestRecord, slo: Slo): boolean {
  if (!r.ok) return false;
  if (slo.ttftS !== null && (r.ttft_ms === null || r.ttft_ms > slo.ttftS * 1000)) return false;
  if (slo.tpotS !== null && r.tpot_ms !== null && r.tpot_ms > slo.tpotS * 1000) return false;
  return true;
}

export function summarize(
  records: readonly RequestRecord[],
  opts: { total: number; wallMs: number; recordedWallMs: number | null; slo: Slo; cpuMs: number },
): RunSummary {
  const ok = records.filter((r) => r.ok);
  const wallS = opts.wallMs / 1000;
  let prefillTok = 0;
  let prefillS = 0;
  let decodeTok = 0;
  let decodeS = 0;
  for (const r of ok) {
    if (r.prompt_tokens !== null && r.ttft_ms !== null && r.ttft_ms > 0) {
      prefillTok += r.prompt_tokens - (r.cached_tokens ?? 0);
      prefillS += r.ttft_ms / 1000;
    }
    if (r.output_tokens !== null && r.output_tokens > 1 && r.ttft_ms !== null && r.e2e_ms !== null && r.e2e_ms > r.ttft_ms) {
      decodeTok += r.output_tokens - 1;
      decodeS += (r.e2e_ms - r.ttft_ms) / 1000;
    }
  }
  const sum = (f: (r: RequestRecord) => number | null, rs: readonly RequestRecord[] = ok) => {
    let s = 0;
    let any = false;
    for (const r of rs) {
      const v = f(r);
      if (v !== null) {
        s += v;
        any = true;
      }
    }
    return any ? s : null;
  };
  const hit = (f: (r: RequestRecord) => number | null, p: (r: RequestRecord) => number | null, rs: readonly RequestRecord[] = ok) => {
    let c = 0;
    let t = 0;
    for (const r of rs) {
      const cv = f(r);
      const pv = p(r);
      if (cv !== null && pv !== null && pv > 0) {
        c += cv;
        t += pv;
      }
    }
    return ratio(c, t);
  };
  const outputTotal = sum((r) => r.output_tokens) ?? 0;
  const lag = dist(records.map((r) => r.schedule_lag_ms));
  const hasSlo = opts.slo.ttftS !== null || opts.slo.tpotS !== null;
  const good = hasSlo ? ok.filter((r) => meetsSlo(r, opts.slo)).length : 0;
  const cpuShare = ratio(opts.cpuMs, opts.wallMs);
  const clientBound = (lag.p99 !== null && lag.p99 > 50) || (cpuShare !== null && cpuShare > 0.9);
  return {
    requests: {
      total: opts.total,
      ok: ok.length,
      failed: records.length - ok.length,
      not_sent: opts.total - records.length,
    },
    ttft_ms: dist(ok.map((r) => r.ttft_ms)),
    tpot_ms: dist(ok.map((r) => r.tpot_ms)),
    itl_ms: dist(ok.flatMap((r) => r.itl_ms)),
    e2e_ms: dist(ok.map((r) => r.e2e_ms)),
    schedule_lag_ms: lag,
    recorded_ttft_ms: dist(ok.map((r) => r.recorded.ttft_ms)),
    recorded_api_ms: dist(ok.map((r) => r.recorded.api_ms)),
    output_tokens_total: outputTotal,
    prompt_tokens_total: sum((r) => r.prompt_tokens) ?? 0,
    prefill_tok_s: ratio(prefillTok, prefillS),
    decode_tok_s: ratio(decodeTok, decodeS),
    output_tok_s: ratio(outputTotal, wallS),
    requests_per_s: ratio(ok.length, wallS),
    cache: {
      server_cached_tokens: sum((r) => r.cached_tokens),
      expected_cached_tokens: sum((r) => r.expected_cached_tokens),
      recorded_cache_read_tokens: sum((r) => r.recorded.cache_read_tokens, records),
      server_hit_rate: hit((r) => r.cached_tokens, (r) => r.prompt_tokens),
      expected_hit_rate: hit((r) => r.expected_cached_tokens, (r) => r.expected_prompt_tokens),
      recorded_hit_rate: hit((r) => r.recorded.cache_read_tokens, (r) => r.recorded.prompt_tokens, records),
    },
    slo: opts.slo,
    goodput_rps: hasSlo ? ratio(good, wallS) : null,
    goodput_fraction: hasSlo ? ratio(good, opts.total) : null,
    wall_ms: opts.wallMs,
    recorded_wall_ms: opts.recordedWallMs,
    jobs: runJobs(records),
    self_audit: {
      schedule_lag_p99_ms: lag.p99,
      schedule_lag_max_ms: lag.max,
      client_cpu_ms: opts.cpuMs,
      client_cpu_share: cpuShare,
      client_bound: clientBound,
      note: clientBound
        ? 'client-bound: the replay client could not keep the schedule (high schedule lag or CPU); server numbers are pessimistic'
        : 'client kept the schedule (lag p99 ≤ 50 ms, CPU < 90 % of a core)',
    },
  };
}
