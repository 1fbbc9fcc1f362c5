import type { AssistantMessage, MessagesRequest, Usage } from './anthropic.js';

/**
 * The content-level record every source importer yields (our requests.db, claude-code-proxy's DB, anyclaude
 * traces, Claude Code JSONL). Everything downstream (index, token breakdown, block model, replay) reads this.
 * Fields a source cannot know are null — never invented.
 */
export interface TraceRequest {
  /** Unique within the source (DB row id, `<file>:<message.id>` for JSONL, …). */
  id: string;
  /** Importer kind that produced it (e.g. 'trace-db', 'cc-proxy-db', 'anyclaude', 'claude-jsonl'). */
  source: string;
  /** When the request was sent (epoch ms). */
  startedAtMs: number | null;
  /** When the response finished (epoch ms). */
  endedAtMs: number | null;
  ttftMs: number | null;
  durationMs: number | null;
  method: string;
  /** Path (e.g. '/v1/messages', '/v1/messages/count_tokens'). */
  endpoint: string;
  model: string | null;
  isStreaming: boolean | null;
  /** HTTP status (null when unknown, e.g. JSONL). */
  status: number | null;
  userAgent: string | null;
  /** Claude Code session id from metadata.user_id (or the JSONL sessionId). */
  sessionId: string | null;
  /** Parsed request body; null when the body was not JSON. */
  body: MessagesRequest | null;
  /**
   * The request body exactly as sent (UTF-8 text), only when the source was opened with `keepBodyText` and holds
   * the raw bytes (our store — compact bodies reassembled —, a claude-code-proxy DB, Postgres): what export and
   * import write, so a body goes through them byte-exact instead of re-serialised.
   */
  bodyText?: string;
  /**
   * False when the source lacks parts of the request the API saw (JSONL has messages but no tools/system):
   * consumers then model the missing part as an opaque prefix.
   */
  bodyComplete: boolean;
  /** Final (reassembled) assistant message. */
  response: AssistantMessage | null;
  /** Usage the API reported for this request (null when none was recorded). */
  usage: Usage | null;
  stopReason: string | null;
  messageId: string | null;
  error: string | null;
  /** Source-provided linkage (JSONL knows it; structural linking infers it otherwise). */
  hints?: {
    agentId?: string;
    parentAgentId?: string;
    isSidechain?: boolean;
    conversationId?: string;
    /** Tool-use id in the parent that spawned this agent (Agent/Task tool). */
    spawnedByToolUseId?: string;
  };
}

/**
 * The block-level view used by the cache simulator, exporters and synthetic replay. Produced from
 * TraceRequests by the block model, or imported as-is from kv-cache-tester / Mooncake traces.
 */
export interface BlockRequest {
  id: string;
  conversationId: string;
  agentId: string;
  /** Parent agent (null for a top-level agent). */
  parentAgentId: string | null;
  /** Seconds since the trace start when the request was sent. */
  t: number;
  model: string | null;
  /** Prompt tokens (full context). */
  inputTokens: number;
  outputTokens: number;
  /** Chain hashes of the full blocks of the prompt, as sequential ids (equal id ⇔ equal prefix up to that block). */
  hashIds: number[];
  blockSize: number;
  /** Token index at which each cache_control breakpoint ends (Anthropic policy), when known. */
  breakpoints?: number[];
  /** Recorded API timing (seconds) when known. */
  apiTime: number | null;
  thinkTime: number | null;
  ttft: number | null;
  /** API-reported usage, when known (validation target). */
  usage: Usage | null;
  stopReason: string | null;
  /** kv-cache-tester request type ('n' normal, 's' sub-agent spawn, …) when imported. */
  type?: string;
  /** Original TraceRequest id, when derived from one. */
  requestId?: string;
}
