/** Row shapes of requests.db, for kysely and the repository functions. */

export interface RequestsTable {
  // claude-code-proxy columns
  id: string;
  timestamp: string | null;
  method: string;
  endpoint: string;
  /** JSON: { [header]: string[] } (Go http.Header shape); secrets replaced by `sha256:<hex16>`. */
  headers: string;
  /** Raw request body text exactly as received (not re-serialised). */
  body: string;
  user_agent: string | null;
  content_type: string | null;
  prompt_grade: string | null;
  /** JSON ResponseLog: { statusCode, headers, body?, bodyText?, responseTime, streamingChunks?, isStreaming, completedAt }. */
  response: string | null;
  model: string | null;
  original_model: string | null;
  routed_model: string | null;
  created_at: string | null;
  // trace columns (nullable: claude-code-proxy DBs lack them)
  session_id: string | null;
  is_streaming: number | null;
  status: number | null;
  started_at_ms: number | null;
  ttft_ms: number | null;
  duration_ms: number | null;
  input_tokens: number | null;
  output_tokens: number | null;
  cache_read_input_tokens: number | null;
  cache_creation_input_tokens: number | null;
  stop_reason: string | null;
  message_id: string | null;
  error: string | null;
  sse_events: string | null;
  upstream_url: string | null;
  seq: number | null;
  request_bytes: number | null;
  response_bytes: number | null;
  state: string | null;
  // migration 3
  /** How the row got here: `capture`, `import:<kind>`. */
  origin: string | null;
  /** The capturing machine's host name and OS user (never a secret). */
  origin_host: string | null;
  origin_user: string | null;
  /** Compact body (body-codec skeleton: literals + segment references); NULL: `body` holds the raw body. */
  body_skeleton: Uint8Array | null;
}

export interface ConversationIndexTable {
  request_id: string;
  conversation_id: string;
  agent_id: string;
  parent_agent_id: string | null;
  is_subagent: number;
  turn_index: number;
  parent_request_id: string | null;
  spawned_by_request_id: string | null;
  duplicate_of: string | null;
  duplicate_kind: string | null;
  kind: string;
  side: string | null;
  linked_by: string;
  think_time_ms: number | null;
  api_time_ms: number | null;
}

export interface BodySegmentsTable {
  /** Content hash of the raw segment. */
  id: string;
  raw_bytes: number;
  data: Uint8Array;
}

export interface DatabaseSchema {
  requests: RequestsTable;
  conversation_index: ConversationIndexTable;
  conversation_index_meta: { key: string; value: string };
  body_segments: BodySegmentsTable;
}

/** claude-code-proxy's response JSON shape (kept for compatibility). */
export interface ResponseLog {
  statusCode: number;
  headers: Record<string, string[]>;
  body?: unknown;
  bodyText?: string;
  responseTime: number;
  streamingChunks?: string[];
  isStreaming: boolean;
  completedAt: string;
}

/** One recorded SSE event: [offset ms from request start, event name or null, data payload]. */
export type RecordedSseEvent = [number, string | null, string];
