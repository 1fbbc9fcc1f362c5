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
}

export interface DatabaseSchema {
  requests: RequestsTable;
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
