/** Anthropic Messages API wire types (the subset the toolkit reads and writes). */

export interface CacheControl {
  type: 'ephemeral';
  ttl?: '5m' | '1h';
}

export interface TextBlock {
  type: 'text';
  text: string;
  cache_control?: CacheControl;
  citations?: unknown;
}
export interface ThinkingBlock {
  type: 'thinking';
  thinking: string;
  signature?: string;
}
export interface RedactedThinkingBlock {
  type: 'redacted_thinking';
  data: string;
}
export interface ToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: unknown;
  cache_control?: CacheControl;
}
export interface ToolResultBlock {
  type: 'tool_result';
  tool_use_id: string;
  content?: string | Array<TextBlock | ImageBlock | { type: string; [k: string]: unknown }>;
  is_error?: boolean;
  cache_control?: CacheControl;
}
export interface ImageBlock {
  type: 'image';
  source: { type: 'base64' | 'url' | string; media_type?: string; data?: string; url?: string };
  cache_control?: CacheControl;
}
export interface OtherBlock {
  type: string;
  [k: string]: unknown;
}
export type ContentBlock =
  | TextBlock
  | ThinkingBlock
  | RedactedThinkingBlock
  | ToolUseBlock
  | ToolResultBlock
  | ImageBlock
  | OtherBlock;

/** `system` role messages do occur inside `messages` in real Claude Code traffic. */
export type Role = 'user' | 'assistant' | 'system';

export interface MessageParam {
  role: Role;
  content: string | ContentBlock[];
}

export interface ToolDefinition {
  name: string;
  description?: string;
  input_schema?: unknown;
  type?: string;
  cache_control?: CacheControl;
  [k: string]: unknown;
}

export interface MessagesRequest {
  model: string;
  messages: MessageParam[];
  system?: string | TextBlock[];
  tools?: ToolDefinition[];
  max_tokens?: number;
  stream?: boolean;
  metadata?: { user_id?: string; [k: string]: unknown };
  temperature?: number;
  thinking?: unknown;
  tool_choice?: unknown;
  stop_sequences?: string[];
  [k: string]: unknown;
}

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
  /** How the cache writes split by lifetime (billed at different rates), when the API reported it. */
  cache_creation?: CacheCreationSplit;
}

export interface CacheCreationSplit {
  ephemeral_5m_input_tokens: number;
  ephemeral_1h_input_tokens: number;
}

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'pause_turn' | 'refusal' | string;

/** A complete (non-streaming, or reassembled) response message. */
export interface AssistantMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: ContentBlock[];
  stop_reason: StopReason | null;
  stop_sequence: string | null;
  usage: Usage;
}

export interface ApiErrorBody {
  type: 'error';
  error: { type: string; message: string };
}

/** Streaming events (`event:` name equals `type`). */
export type StreamEvent =
  | { type: 'message_start'; message: Partial<AssistantMessage> & { usage?: Partial<Usage> } }
  | { type: 'content_block_start'; index: number; content_block: ContentBlock }
  | {
      type: 'content_block_delta';
      index: number;
      delta:
        | { type: 'text_delta'; text: string }
        | { type: 'input_json_delta'; partial_json: string }
        | { type: 'thinking_delta'; thinking: string }
        | { type: 'signature_delta'; signature: string }
        | { type: string; [k: string]: unknown };
    }
  | { type: 'content_block_stop'; index: number }
  | {
      type: 'message_delta';
      delta: { stop_reason?: StopReason | null; stop_sequence?: string | null };
      usage?: Partial<Usage>;
    }
  | { type: 'message_stop' }
  | { type: 'ping' }
  | { type: 'error'; error: { type: string; message: string } };

export function emptyUsage(): Usage {
  return { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 };
}

/** Context size as the API counts it: input + cache read + cache creation. */
export function contextTokens(u: Pick<Usage, 'input_tokens' | 'cache_read_input_tokens' | 'cache_creation_input_tokens'>): number {
  return (u.input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0);
}

/** Parse Claude Code's `metadata.user_id` (a JSON string with device_id / session_id, or a legacy `user_…_session_<uuid>` string). */
export function parseUserId(userId: unknown): { sessionId?: string; deviceId?: string; accountUuid?: string } {
  if (typeof userId !== 'string' || userId === '') return {};
  if (userId.startsWith('{')) {
    try {
      const o = JSON.parse(userId) as Record<string, unknown>;
      return {
        sessionId: typeof o.session_id === 'string' ? o.session_id : undefined,
        deviceId: typeof o.device_id === 'string' ? o.device_id : undefined,
        accountUuid: typeof o.account_uuid === 'string' && o.account_uuid ? o.account_uuid : undefined,
      };
    } catch {
      return {};
    }
  }
  const m = /_session_([0-9a-f-]{36})$/i.exec(userId);
  return m ? { sessionId: m[1] } : {};
}
