import type { RoundBlockRequest } from '../store/sources/tracelab.js';
import { distribution, type Distribution } from './percentiles.js';
import { jobMetrics, type JobMetrics } from './job-split.js';

/**
 * Summary of round traces (TraceLab): sessions, rounds in order, prompt sizes, Claude's recorded cache split
 * (the API truth), and the recorded think time split into tool time (the gap before a round whose input is tool
 * results) and user pause (the gap before a round that starts with a user message). Pure.
 */
export interface RoundSessionSummary {
  session_id: string;
  provider: string | null;
  rounds: number;
  prompt_tokens: number;
  output_tokens: number;
  /** Claude's recorded split (null when the provider records none, e.g. Codex). */
  claude: { uncached: number; cache_creation: number; cache_read: number; hit_rate: number } | null;
}


export interface RoundsSummary {
  sessions: RoundSessionSummary[];
  rounds: number;
  /**
   * The recorded time split per session and in total (src/analyze/job-split.ts, the same split `trace analyze` and
   * `trace replay` report for content traces): model time, tool time, user pause.
   */
  job: JobMetrics;
  /** Distribution of the individual gaps (seconds). */
  tool_gaps_s: Distribution;
  user_gaps_s: Distribution;
  /** Time from a round's send to its first output event (TTFT-like). */
  first_output_s: Distribution;
  /** Σ wall latency of the tools each round called (ms). */
  tool_latency_ms: Distribution;
}

export function summarizeRounds(rounds: readonly RoundBlockRequest[]): RoundsSummary {
  const bySession = new Map<string, RoundBlockRequest[]>();
  for (const r of rounds) (bySession.get(r.conversationId) ?? bySession.set(r.conversationId, []).get(r.conversationId)!).push(r);
  const sessions: RoundSessionSummary[] = [];
  for (const [sid, list] of bySession) {
    list.sort((a, b) => a.round - b.round);
    const withUsage = list.filter((r) => r.usage);
    let claude: RoundSessionSummary['claude'] = null;
    if (withUsage.length) {
      const uncached = withUsage.reduce((a, r) => a + r.usage!.input_tokens, 0);
      const creation = withUsage.reduce((a, r) => a + r.usage!.cache_creation_input_tokens, 0);
      const read = withUsage.reduce((a, r) => a + r.usage!.cache_read_input_tokens, 0);
      const ctx = uncached + creation + read;
      claude = { uncached, cache_creation: creation, cache_read: read, hit_rate: ctx > 0 ? read / ctx : 0 };
    }
    sessions.push({
      session_id: sid,
      provider: list[0]!.provider,
      rounds: list.length,
      prompt_tokens: list.reduce((a, r) => a + r.inputTokens, 0),
      output_tokens: list.reduce((a, r) => a + r.outputTokens, 0),
      claude,
    });
  }
  const tool: number[] = [];
  const user: number[] = [];
  for (const r of rounds) {
    if (r.thinkTime === null) continue;
    if (r.thinkKind === 'tool') tool.push(r.thinkTime);
    else if (r.thinkKind === 'user') user.push(r.thinkTime);
  }
  return {
    sessions,
    rounds: rounds.length,
    job: jobMetrics(
      rounds
        .filter((r) => r.startedAtMs !== null && r.endedAtMs !== null)
        .map((r) => ({ session: r.conversationId, agent: r.agentId, startMs: r.startedAtMs!, endMs: r.endedAtMs!, gapKind: r.thinkKind ?? 'other' })),
    ),
    tool_gaps_s: distribution(tool),
    user_gaps_s: distribution(user),
    first_output_s: distribution(rounds.map((r) => r.ttft)),
    tool_latency_ms: distribution(rounds.filter((r) => r.toolLatencyMs > 0).map((r) => r.toolLatencyMs)),
  };
}
