import type { AssistantMessage, MessagesRequest } from '../../shared/anthropic.js';

/**
 * The one shape check for records entering analysis: every importer that turns rows/files into TraceRequests
 * calls `recordShapeProblem` (through `assertRecordShape`) and skips — with a one-line warning, counted in
 * `stats.skipped` — a record whose request body or response does not have the Anthropic Messages shape the
 * analysis relies on. Lenient where real traffic varies (string or block-array content, `role: "system"`
 * messages, unknown block types and extra fields), strict where a wrong type would break counting or linking:
 *
 * - the body is a JSON object; `messages`, when present, is an array (`null`, a string or a number is not);
 * - each message is an object with a string `role` and `content` that is a string or an array of objects;
 * - a `text` block's `text` is a string; a `tool_result`'s `content` is absent, a string or an array of objects;
 * - `system` is absent, a string or an array of objects (text blocks with string `text`);
 * - `tools` is absent or an array of objects; `model` is absent, null or a string; `metadata` is absent, null or
 *   an object whose `user_id`, when present, is a string;
 * - a recorded response message's `content` is an array of objects (text blocks with string `text`).
 *
 * Message objects already checked are remembered (WeakSet), so the append-only bodies the delta parser shares
 * between the requests of a conversation are checked once: the cost stays linear in the source's size. Bodies
 * the delta parser built (`prefixSharedBodies`) share their messages with earlier bodies only as a prefix, at the
 * same positions: their messages are checked from the newest back to the first one already checked, whose
 * predecessors were checked with it — a request costs its new messages, not all of them.
 */
const checked = new WeakSet<object>();

/** Bodies whose shared message objects form a prefix at the same positions (registered by the delta parser). */
export const prefixSharedBodies = new WeakSet<object>();

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function blockProblem(b: unknown, where: string): string | null {
  if (!isObject(b)) return `${where} is not an object`;
  if (b.type === 'text' && typeof b.text !== 'string') return `${where} is a text block without string text`;
  if (b.type === 'tool_result' && b.content !== undefined && b.content !== null && typeof b.content !== 'string') {
    if (!Array.isArray(b.content)) return `${where}.content is neither a string nor an array`;
    for (let i = 0; i < b.content.length; i++) {
      const p = blockProblem(b.content[i], `${where}.content[${i}]`);
      if (p) return p;
    }
  }
  return null;
}

function blocksProblem(v: unknown, where: string, allowString: boolean): string | null {
  if (allowString && typeof v === 'string') return null;
  if (!Array.isArray(v)) return `${where} is ${describe(v)}, not ${allowString ? 'a string or ' : ''}an array`;
  for (let i = 0; i < v.length; i++) {
    const p = blockProblem(v[i], `${where}[${i}]`);
    if (p) return p;
  }
  return null;
}

function messageProblem(m: unknown, i: number): string | null {
  if (isObject(m) && checked.has(m)) return null;
  const p = uncheckedMessageProblem(m, i);
  if (p === null) checked.add(m as object);
  return p;
}

function uncheckedMessageProblem(m: unknown, i: number): string | null {
  if (!isObject(m)) return `messages[${i}] is ${describe(m)}, not an object`;
  if (typeof m.role !== 'string') return `messages[${i}].role is ${describe(m.role)}, not a string`;
  return blocksProblem(m.content, `messages[${i}].content`, true);
}

/**
 * A prefix-shared body's messages: the new tail (back to the first checked message) is checked, and remembered
 * only when all of it passes — so a later body sharing this prefix never stops at a message after a bad one.
 */
function sharedPrefixMessagesProblem(messages: readonly unknown[]): string | null {
  let from = messages.length;
  while (from > 0) {
    const m = messages[from - 1];
    if (isObject(m) && checked.has(m)) break;
    from--;
  }
  for (let i = from; i < messages.length; i++) {
    const p = uncheckedMessageProblem(messages[i], i);
    if (p) return p;
  }
  for (let i = from; i < messages.length; i++) checked.add(messages[i] as object);
  return null;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** What is wrong with a request body's shape, or null when it can be analysed. */
export function requestBodyProblem(body: unknown): string | null {
  if (body === null || body === undefined) return null;
  if (!isObject(body)) return `request body is ${describe(body)}, not an object`;
  const b = body as Partial<MessagesRequest> & Record<string, unknown>;
  if ('messages' in b && b.messages !== undefined) {
    if (!Array.isArray(b.messages)) return `messages is ${describe(b.messages)}, not an array`;
    if (prefixSharedBodies.has(body)) {
      const p = sharedPrefixMessagesProblem(b.messages);
      if (p) return p;
    } else {
      for (let i = 0; i < b.messages.length; i++) {
        const p = messageProblem(b.messages[i], i);
        if (p) return p;
      }
    }
  }
  if (b.system !== undefined && b.system !== null) {
    const p = blocksProblem(b.system, 'system', true);
    if (p) return p;
  }
  if (b.tools !== undefined && b.tools !== null) {
    if (!Array.isArray(b.tools)) return `tools is ${describe(b.tools)}, not an array`;
    const i = b.tools.findIndex((t) => !isObject(t));
    if (i >= 0) return `tools[${i}] is ${describe(b.tools[i])}, not an object`;
  }
  if (b.model !== undefined && b.model !== null && typeof b.model !== 'string') return `model is ${describe(b.model)}, not a string`;
  if (b.metadata !== undefined && b.metadata !== null) {
    if (!isObject(b.metadata)) return `metadata is ${describe(b.metadata)}, not an object`;
    const u = b.metadata.user_id;
    if (u !== undefined && u !== null && typeof u !== 'string') return `metadata.user_id is ${describe(u)}, not a string`;
  }
  return null;
}

/** What is wrong with a recorded response message's shape, or null. */
export function responseProblem(message: AssistantMessage | null): string | null {
  if (message === null) return null;
  return blocksProblem(message.content, 'response content', false);
}

/** Throws (an Error the importers count as a skipped record) when the record's body or response is malformed. */
export function assertRecordShape(r: { body: unknown; response: AssistantMessage | null }): void {
  const p = requestBodyProblem(r.body) ?? responseProblem(r.response);
  if (p) throw new Error(p);
}
