import type { MessagesRequest } from '../shared/anthropic.js';
import { promptSegments } from './normalize.js';
import type { TokenCounter } from './token-counter.js';

/**
 * Token breakdown of one request's prompt, from promptSegments() (tools → system → messages, normalised:
 * no cache_control, no signatures, billing line dropped): per tool, system, and messages by role and block
 * type (text, tool_use, tool_result, thinking, image, …). Counts come from the chosen tokenizer through a
 * content-addressed TokenCounter; they are OUR counts, not the API's (see calibration in analyze-requests).
 */
export interface TokenBreakdown {
  total: number;
  tools: number;
  system: number;
  messages: number;
  /** Tool name → tokens of its definition. */
  perTool: Record<string, number>;
  /** `${role}.${blockType}` → tokens (e.g. `user.tool_result`, `assistant.tool_use`). */
  byRoleBlock: Record<string, number>;
}

export function emptyBreakdown(): TokenBreakdown {
  return { total: 0, tools: 0, system: 0, messages: 0, perTool: {}, byRoleBlock: {} };
}

export function tokenBreakdown(body: MessagesRequest, counter: TokenCounter): TokenBreakdown {
  const out = emptyBreakdown();
  for (const s of promptSegments(body)) {
    const n = counter.count(s.text);
    out.total += n;
    if (s.kind === 'tool') {
      out.tools += n;
      const name = s.name ?? '?';
      out.perTool[name] = (out.perTool[name] ?? 0) + n;
    } else if (s.kind === 'system') {
      out.system += n;
    } else {
      out.messages += n;
      const k = `${s.role ?? '?'}.${s.blockType ?? '?'}`;
      out.byRoleBlock[k] = (out.byRoleBlock[k] ?? 0) + n;
    }
  }
  return out;
}

