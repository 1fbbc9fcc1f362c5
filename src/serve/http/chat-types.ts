/**
 * The API-neutral conversation both HTTP front ends (Anthropic Messages, OpenAI Chat Completions) convert
 * their request bodies into before the chat template renders it to a prompt.
 */

export interface ToolSpec {
  name: string;
  description?: string;
  /** JSON Schema of the arguments (Anthropic input_schema / OpenAI function.parameters). */
  parameters: unknown;
}

export interface ChatToolCall {
  id: string;
  name: string;
  /** Parsed arguments (an object for well-formed calls). */
  arguments: unknown;
}

export type ChatTurn =
  | { role: 'system'; text: string }
  | { role: 'user'; text: string }
  | { role: 'assistant'; text: string; toolCalls: ChatToolCall[] }
  | { role: 'tool'; toolCallId: string; name?: string; text: string; isError?: boolean };

export interface ChatPrompt {
  /** System prompt text (billing line already dropped); '' when none. */
  system: string;
  tools: ToolSpec[];
  turns: ChatTurn[];
}

/** Sampling / length parameters common to both APIs. */
export interface GenerationParams {
  maxTokens: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  stop: string[];
}
