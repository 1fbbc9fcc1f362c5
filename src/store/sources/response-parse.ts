import type { AssistantMessage, ContentBlock, MessagesRequest, Usage } from '../../shared/anthropic.js';
import { parseUserId } from '../../shared/anthropic.js';
import { MessageAssembler, toUsage } from '../../shared/message-assembler.js';

/**
 * Helpers shared by the content importers: turning recorded response material (SSE text, SSE `data:`
 * payload lists, JSON bodies) into a final assistant message, and parsing request bodies.
 * Nothing here throws on bad input: unparseable material yields `null`.
 */

/** Parsed response: the assembled message (if any), its usage, and an API error message (if any). */
export interface ParsedResponse {
  message: AssistantMessage | null;
  usage: Usage | null;
  error: string | null;
}

const EMPTY: ParsedResponse = { message: null, usage: null, error: null };

/**
 * Feeds SSE material to an assembler. Each chunk may be a bare JSON `data` payload, one `data: {...}` line,
 * or full `event:`/`data:` framed text (several events). `event:` lines are ignored (the JSON carries `type`).
 */
export function assembleSseChunks(chunks: Iterable<string>): ParsedResponse {
  const asm = new MessageAssembler();
  let any = false;
  for (const raw of chunks) {
    if (typeof raw !== 'string') continue;
    const chunk = raw.trim();
    if (chunk === '') continue;
    if (chunk.startsWith('{')) {
      asm.pushData(chunk);
      any = true;
      continue;
    }
    for (const line of chunk.split(/\r\n|\r|\n/)) {
      if (!line.startsWith('data:')) continue;
      const payload = line.slice(5).trim();
      if (payload.startsWith('{')) {
        asm.pushData(payload);
        any = true;
      }
    }
  }
  if (!any) return EMPTY;
  const message = asm.result() ?? null;
  const error = asm.errorEvent ? `${asm.errorEvent.type}: ${asm.errorEvent.message}` : null;
  return { message, usage: asm.hasUsage && message ? message.usage : null, error };
}

/** A whole SSE text (as recorded by anyclaude or a bodyText). */
function assembleSseText(text: string): ParsedResponse {
  return assembleSseChunks([text]);
}

function isMessageLike(v: unknown): v is AssistantMessage {
  return !!v && typeof v === 'object' && Array.isArray((v as { content?: unknown }).content);
}

/**
 * A response body in any recorded shape: a message object, an API error object, a JSON string of either,
 * or a raw SSE string.
 */
export function parseResponseBody(body: unknown): ParsedResponse {
  if (body === null || body === undefined) return EMPTY;
  if (typeof body === 'string') {
    const t = body.trim();
    if (t.startsWith('{')) {
      try {
        return parseResponseBody(JSON.parse(t));
      } catch {
        return assembleSseText(t);
      }
    }
    if (t.includes('data:')) return assembleSseText(t);
    return EMPTY;
  }
  if (typeof body !== 'object') return EMPTY;
  const o = body as Record<string, unknown>;
  if (o.type === 'error' && o.error && typeof o.error === 'object') {
    const e = o.error as { type?: unknown; message?: unknown };
    return { message: null, usage: null, error: `${String(e.type ?? 'error')}: ${String(e.message ?? '')}` };
  }
  if (isMessageLike(o)) {
    const usage = toUsage(o.usage) ?? null;
    const message: AssistantMessage = {
      id: typeof o.id === 'string' ? o.id : '',
      type: 'message',
      role: 'assistant',
      model: typeof o.model === 'string' ? o.model : '',
      content: o.content as ContentBlock[],
      stop_reason: (o.stop_reason as string | null | undefined) ?? null,
      stop_sequence: (o.stop_sequence as string | null | undefined) ?? null,
      usage: usage ?? { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
    };
    return { message, usage, error: null };
  }
  // count_tokens responses ({input_tokens}) and other JSON: usage only when it looks like one.
  if (typeof o.input_tokens === 'number') return { message: null, usage: null, error: null };
  return EMPTY;
}

/** JSON.parse a request body; null unless it is a JSON object. */
export function parseRequestBody(text: string | null | undefined): MessagesRequest | null {
  if (typeof text !== 'string' || text === '') return null;
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as MessagesRequest) : null;
  } catch {
    return null;
  }
}

export function sessionIdOf(body: MessagesRequest | null): string | null {
  return parseUserId(body?.metadata?.user_id).sessionId ?? null;
}

/** Path part of a URL or endpoint string. */
export function endpointPath(urlOrPath: string | null | undefined): string {
  if (!urlOrPath) return '/v1/messages';
  try {
    return new URL(urlOrPath, 'http://x').pathname;
  } catch {
    return urlOrPath;
  }
}

/** Parses an ISO / SQLite datetime into epoch ms (SQLite's `YYYY-MM-DD HH:MM:SS` is UTC). */
export function parseTime(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v !== 'string' || v === '') return null;
  let s = v;
  if (/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?$/.test(s)) s = s.replace(' ', 'T') + 'Z';
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : null;
}

/** The fields every content importer derives the same way from a request body and its parsed response. */
export function exchangeFields(body: MessagesRequest | null, parsed: ParsedResponse) {
  return {
    model: body?.model ?? parsed.message?.model ?? null,
    sessionId: sessionIdOf(body),
    body,
    bodyComplete: body !== null,
    response: parsed.message,
    usage: parsed.usage,
    stopReason: parsed.message?.stop_reason ?? null,
    messageId: parsed.message?.id || null,
  };
}
