import { readJsonLines, readSourceText } from './json-lines.js';
import { SourceError } from '../../shared/errors.js';
import type { Usage } from '../../shared/anthropic.js';
import type { BlockRequest } from '../../shared/trace-record.js';
import type { OpenSourceOptions, OpenedSource, SourceImporter, SourceProbe } from './source.js';

/**
 * `tracelab`: TraceLab round traces (uw-syfi/TraceLab, CC BY 4.0): one JSONL row per LLM round with token totals
 * (`input_tokens_total = prefix_tokens + newly_append_tokens`), Claude's own cache split (null for Codex),
 * `timing_events[]` and `tools[]` with tool latencies. No content and no hash ids.
 *
 * Block model without content (stated in `--json` as `source.corpus.block_model`): within a session, a round's
 * prompt starts with the previous round's whole prompt (append-only conversation) and appends the rest; the first
 * round of a session shares nothing. Blocks are numbered so (block size 64): the first ⌊min(prev, prompt)/64⌋
 * blocks are the previous round's, the rest are new. Claude's recorded split is the API usage (the validation
 * target). Timing: a round is sent at its last input event (user message / tool result) and ends at its last
 * output event; its time to first output event is the TTFT-like figure; the gap before it is tool time when
 * its input is tool results and a user pause when it is a user message.
 */
export const TRACELAB_BLOCK_SIZE = 64;

interface TimingEvent {
  event_type?: string;
  timestamp?: string;
}
interface TraceLabRow {
  provider?: string;
  session_id: string;
  round_index: number;
  round_id?: string;
  model?: string | null;
  input_tokens_total?: number;
  prefix_tokens: number;
  newly_append_tokens: number;
  claude_uncached_input_tokens?: number | null;
  claude_cache_creation_input_tokens?: number | null;
  claude_cache_read_input_tokens?: number | null;
  output_tokens?: number | null;
  timing_events?: TimingEvent[];
  tools?: { tool_wall_latency_ms?: number | null }[];
  first_input_event_type?: string | null;
}

/** A round as a block request, with what TraceLab records beyond the block model. */
export type RoundBlockRequest = BlockRequest & {
  round: number;
  provider: string | null;
  /** What the gap before this round was: 'tool' (tool results came back), 'user' (a new user message), null (first round / unknown). */
  thinkKind: 'tool' | 'user' | null;
  /** Σ tool wall latency of the tools this round called (ms). */
  toolLatencyMs: number;
  /** When the round was sent / ended (epoch ms), from its timing events. */
  startedAtMs: number | null;
  endedAtMs: number | null;
};

const INPUT_EVENTS = new Set(['user_message', 'tool_result']);

function isRow(o: unknown): o is TraceLabRow {
  const r = o as TraceLabRow;
  return !!r && typeof r === 'object' && typeof r.session_id === 'string' && Number.isInteger(r.round_index) && typeof r.prefix_tokens === 'number' && typeof r.newly_append_tokens === 'number';
}

function times(r: TraceLabRow): { start: number | null; firstOut: number | null; end: number | null; kind: 'tool' | 'user' | null } {
  let start: number | null = null;
  let firstOut: number | null = null;
  let end: number | null = null;
  let kind: 'tool' | 'user' | null = null;
  for (const e of r.timing_events ?? []) {
    const t = e?.timestamp ? Date.parse(e.timestamp) : NaN;
    if (!Number.isFinite(t)) continue;
    if (INPUT_EVENTS.has(e.event_type ?? '')) {
      if (start === null || t >= start) {
        start = t;
        kind = e.event_type === 'user_message' ? 'user' : 'tool';
      }
    } else if (e.event_type !== 'usage_report') {
      if (firstOut === null || t < firstOut) firstOut = t;
      if (end === null || t > end) end = t;
    }
  }
  if (r.first_input_event_type === 'user_message' && kind === null) kind = 'user';
  return { start, firstOut, end, kind };
}

function usageOf(r: TraceLabRow): Usage | null {
  const u = r.claude_uncached_input_tokens;
  const c = r.claude_cache_creation_input_tokens;
  const rd = r.claude_cache_read_input_tokens;
  if (typeof u !== 'number' || typeof c !== 'number' || typeof rd !== 'number') return null;
  return { input_tokens: u, cache_creation_input_tokens: c, cache_read_input_tokens: rd, output_tokens: r.output_tokens ?? 0 };
}

/** Parses the rows (malformed lines skipped with one warning each) and builds the round block requests. */
export function parseTraceLab(text: string, path: string, options: OpenSourceOptions): { rounds: RoundBlockRequest[]; skipped: number; sessions: { session_id: string; provider: string | null; rounds: number }[] } {
  const read = readJsonLines(text, path, options.logger, (o) => (isRow(o) ? o : 'not a TraceLab round row'));
  const rows: TraceLabRow[] = read.records.map((r) => r.value);
  const skipped = read.skipped;
  const bySession = new Map<string, TraceLabRow[]>();
  for (const r of rows) (bySession.get(r.session_id) ?? bySession.set(r.session_id, []).get(r.session_id)!).push(r);
  let t0 = Infinity;
  for (const r of rows) {
    const s = times(r).start;
    if (s !== null && s < t0) t0 = s;
  }
  if (!Number.isFinite(t0)) t0 = 0;
  const bs = TRACELAB_BLOCK_SIZE;
  let nextId = 1;
  const rounds: RoundBlockRequest[] = [];
  const sessions: { session_id: string; provider: string | null; rounds: number }[] = [];
  for (const [sid, list] of bySession) {
    list.sort((a, b) => a.round_index - b.round_index);
    sessions.push({ session_id: sid, provider: list[0]!.provider ?? null, rounds: list.length });
    let prevIds: number[] = [];
    let prevTokens = 0;
    let prevEnd: number | null = null;
    let lastT = 0;
    for (const r of list) {
      const prompt = r.prefix_tokens + r.newly_append_tokens;
      const shared = Math.min(Math.floor(Math.min(prevTokens, prompt) / bs), prevIds.length);
      const ids = prevIds.slice(0, shared);
      const full = Math.floor(prompt / bs);
      while (ids.length < full) ids.push(nextId++);
      const tm = times(r);
      // Rounds without timing keep their order, 1 s after the previous one.
      const t = tm.start !== null ? (tm.start - t0) / 1000 : lastT + 1;
      lastT = t;
      const ttft = tm.start !== null && tm.firstOut !== null && tm.firstOut >= tm.start ? (tm.firstOut - tm.start) / 1000 : null;
      const api = tm.start !== null && tm.end !== null && tm.end >= tm.start ? (tm.end - tm.start) / 1000 : null;
      const think = prevEnd !== null && tm.start !== null ? Math.max(0, (tm.start - prevEnd) / 1000) : null;
      rounds.push({
        id: `${sid}:${r.round_index}`,
        conversationId: sid,
        agentId: sid,
        parentAgentId: null,
        t,
        model: r.model ?? null,
        inputTokens: prompt,
        outputTokens: r.output_tokens ?? 0,
        hashIds: ids,
        blockSize: bs,
        breakpoints: prompt > 0 ? [prompt] : [],
        apiTime: api,
        thinkTime: think,
        ttft,
        usage: usageOf(r),
        stopReason: null,
        round: r.round_index,
        provider: r.provider ?? null,
        thinkKind: prevEnd === null ? null : tm.kind,
        toolLatencyMs: (r.tools ?? []).reduce((a, x) => a + (typeof x?.tool_wall_latency_ms === 'number' ? x.tool_wall_latency_ms : 0), 0),
        startedAtMs: tm.start,
        endedAtMs: tm.end,
      });
      prevIds = ids;
      prevTokens = prompt;
      if (tm.end !== null) prevEnd = tm.end;
    }
  }
  rounds.sort((a, b) => a.t - b.t);
  return { rounds, skipped, sessions };
}

export const tracelabImporter: SourceImporter = {
  kind: 'tracelab',
  description: 'TraceLab round traces JSONL (prefix/append sizes, Claude cache split, timing events; no content: block model from sizes)',
  level: 'block',
  detect(p: SourceProbe): boolean {
    if (p.isDirectory || !p.head) return false;
    const first = p.head.toString('utf8').split('\n', 1)[0] ?? '';
    return first.includes('"round_index"') && first.includes('"prefix_tokens"') && first.includes('"newly_append_tokens"');
  },
  open(path: string, options: OpenSourceOptions): OpenedSource {
    const text = readSourceText(path);
    const { rounds, skipped, sessions } = parseTraceLab(text, path, options);
    if (!rounds.length) throw new SourceError(`${path}: no TraceLab round rows`);
    const stats = { skipped, yielded: 0 };
    return {
      kind: 'tracelab',
      path,
      level: 'block',
      estimatedCount: rounds.length,
      blockSize: TRACELAB_BLOCK_SIZE,
      stats,
      corpus: {
        files: 1,
        skipped_files: [],
        hash_id_namespace: null,
        block_model: 'from sizes: each round’s prompt = the previous round’s prompt + appended tokens (no content)',
        sessions: sessions.map((s) => ({ file: path, session_id: s.session_id, requests: s.rounds, provider: s.provider })),
      },
      requests: () => [],
      blocks: () => {
        stats.yielded = rounds.length;
        return rounds;
      },
      close() {},
    };
  },
};
