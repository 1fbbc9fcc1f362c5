import type { MessagesRequest } from '../shared/anthropic.js';
import type { BlockRequest } from '../shared/trace-record.js';
import type { GapKind } from '../analyze/job-split.js';

/** How requests are paced. */
export type TimingMode = 'think' | 'recorded' | 'fast';
/** Where request content comes from. */
export type ContentMode = 'recorded' | 'synthetic';

/** Recorded facts kept beside the measured ones (null when the source did not have them). */
export interface RecordedFacts {
  ttftMs: number | null;
  apiMs: number | null;
  /** Context tokens the API counted (input + cache read + cache creation), or the block trace's `in`. */
  promptTokens: number | null;
  outputTokens: number | null;
  cacheReadTokens: number | null;
  /** Recorded gap between the previous response in the same agent ending and this request starting. */
  thinkMs: number | null;
}

/** One request of a replay plan (pure data; produced by ./plan.ts). */
export interface PlannedRequest {
  id: string;
  /** Position in the plan (chronological by recorded start). */
  index: number;
  conversationId: string;
  /** Unique agent key within the plan (`<conversation>/<agent>`). */
  agentKey: string;
  parentAgentKey: string | null;
  /** Recorded start, ms since the trace's first request. */
  offsetMs: number;
  /** Requests that must finish before this one may be sent (think / fast timing). */
  deps: string[];
  /** Recorded gap (ms) between the latest dependency ending and this request starting. */
  delayMs: number;
  model: string | null;
  /** Recorded Anthropic body (content 'recorded'); null for block-level sources. */
  body: MessagesRequest | null;
  /** Chain hash ids of the prompt's full blocks, when known (synthetic content, expected-cache simulation). */
  hashIds: number[] | null;
  blockSize: number | null;
  /** The block-level view of this request (fed to the expected-cache simulation), when known. */
  block: BlockRequest | null;
  recorded: RecordedFacts;
  /** What the gap before this request was spent on (tool_result last → tool, new user text → user). */
  gapKind: GapKind;
  /** Which concurrent copy of the trace this is (`--users`; 0 for the first / only copy). */
  copy: number;
}

export interface ReplayPlan {
  /** Short name of the source (file base name) used in result file names. */
  traceName: string;
  sourceKind: string;
  requests: PlannedRequest[];
  /** Recorded session wall time: last recorded end − first recorded start (ms), when known. */
  recordedWallMs: number | null;
  blockSize: number | null;
}

/** What a backend measured for one request. */
export interface BackendResult {
  ok: boolean;
  /** HTTP status (null when no response arrived). */
  status: number | null;
  error: string | null;
  /** ms from send to the first generated content. */
  ttftMs: number | null;
  /** Gaps between successive content chunks (ms). */
  itlMs: number[];
  /** ms from send to the end of the response body. */
  e2eMs: number | null;
  /** Server-reported usage (null fields when the server did not report them). */
  promptTokens: number | null;
  cachedTokens: number | null;
  outputTokens: number | null;
  /** Generated text (text + tool-call arguments), used to count tokens when the server reports none. */
  outputText: string;
  stopReason: string | null;
}

/** One line of the results file. */
export interface RequestRecord {
  id: string;
  index: number;
  conversation_id: string;
  agent: string;
  ok: boolean;
  status: number | null;
  error: string | null;
  /** Planned send time and actual send time, ms since the run started. */
  planned_at_ms: number;
  sent_at_ms: number;
  /** actual − planned send time (ms). */
  schedule_lag_ms: number;
  ttft_ms: number | null;
  itl_ms: number[];
  tpot_ms: number | null;
  e2e_ms: number | null;
  output_tokens: number | null;
  /** 'server' when the server reported usage, 'tokenizer' when counted client-side, null when unknown. */
  output_tokens_source: 'server' | 'tokenizer' | null;
  prompt_tokens: number | null;
  cached_tokens: number | null;
  /** Expected cached tokens from the live prefix-cache simulation (same block size); null without hash ids. */
  expected_cached_tokens: number | null;
  /** Prompt tokens as the block model counts them (same tokenizer as expected_cached_tokens). */
  expected_prompt_tokens: number | null;
  stop_reason: string | null;
  /** What the gap before this request was spent on (from the trace's message kinds; job metrics). */
  gap_kind: GapKind;
  /** Concurrent copy of the trace (`--users`), 0 for the first. */
  copy: number;
  recorded: {
    /** Recorded start, ms since the trace's first request. */
    offset_ms: number;
    ttft_ms: number | null;
    api_ms: number | null;
    prompt_tokens: number | null;
    output_tokens: number | null;
    cache_read_tokens: number | null;
    think_ms: number | null;
  };
}
