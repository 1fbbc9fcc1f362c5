import type { ContentBlock, MessagesRequest } from '../shared/anthropic.js';
import type { TraceRequest } from '../shared/trace-record.js';

/**
 * Request classification.
 * - side: requests that are not conversation turns — `count_tokens`, the session-title request (no tools,
 *   a system prompt asking for a title), the quota probe (`max_tokens: 1`, a single "quota" message).
 * - kind (precedence error > side > tool_use > tool_result > text):
 *   error        the API (or the proxy) reported an error / HTTP status ≥ 400;
 *   side         see above;
 *   tool_use     the response asked for a tool (a tool_use block / stop_reason tool_use);
 *   tool_result  the request carries tool results back (last user message holds tool_result blocks);
 *   text         anything else (a user text turn answered with text).
 * Whether a request belongs to a sub-agent is decided by the conversation index (`isSubagent`).
 */
export type SideKind = 'count_tokens' | 'title' | 'quota' | 'other';
export type RequestKind = 'error' | 'side' | 'tool_use' | 'tool_result' | 'text';
export const REQUEST_KINDS: readonly RequestKind[] = ['text', 'tool_use', 'tool_result', 'side', 'error'];

function systemText(body: MessagesRequest): string {
  if (typeof body.system === 'string') return body.system;
  return (body.system ?? []).map((b) => (b && typeof b.text === 'string' ? b.text : '')).join('\n');
}

function blocksOf(content: unknown): ContentBlock[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  return Array.isArray(content) ? (content as ContentBlock[]) : [];
}

function sideKind(r: Pick<TraceRequest, 'endpoint' | 'body'>): SideKind | null {
  if (r.endpoint.includes('count_tokens')) return 'count_tokens';
  if (!r.endpoint.startsWith('/v1/messages')) return 'other';
  const b = r.body;
  if (!b) return null;
  const msgs = b.messages ?? [];
  if (b.max_tokens === 1 && msgs.length === 1) {
    const t = blocksOf(msgs[0]!.content).map((x) => (x as { text?: string }).text ?? '').join('').trim().toLowerCase();
    if (t === 'quota') return 'quota';
  }
  if ((b.tools ?? []).length === 0 && msgs.length <= 2) {
    const sys = systemText(b);
    if (/\btitle\b/i.test(sys) && /(generate|write|summari[sz]e)/i.test(sys)) return 'title';
    const oc = JSON.stringify((b as { output_config?: unknown }).output_config ?? null);
    if (oc.includes('"title"') && oc.includes('json_schema')) return 'title';
  }
  return null;
}

export function lastUserHasToolResult(body: MessagesRequest | null): boolean {
  const msgs = body?.messages ?? [];
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i]!;
    if (m.role === 'system') continue;
    if (m.role !== 'user') return false;
    return blocksOf(m.content).some((b) => b.type === 'tool_result');
  }
  return false;
}

export function responseHasToolUse(r: Pick<TraceRequest, 'response' | 'stopReason'>): boolean {
  if (r.stopReason === 'tool_use') return true;
  return (r.response?.content ?? []).some((b) => b.type === 'tool_use');
}

export function classifyRequest(r: TraceRequest): { kind: RequestKind; side: SideKind | null } {
  const side = sideKind(r);
  if (r.error || (r.status !== null && r.status >= 400)) return { kind: 'error', side };
  if (side) return { kind: 'side', side };
  if (responseHasToolUse(r)) return { kind: 'tool_use', side };
  if (lastUserHasToolResult(r.body)) return { kind: 'tool_result', side };
  return { kind: 'text', side };
}

/** Names of the tools that spawn sub-agents in Claude Code (renamed Task → Agent in 2.x). */
const SPAWN_TOOLS: ReadonlySet<string> = new Set(['Agent', 'Task']);

/** Agent/Task tool_use blocks of a response: the prompts a sub-agent's first user message will carry. */
export function spawnPrompts(r: Pick<TraceRequest, 'response'>): { toolUseId: string; prompt: string }[] {
  const out: { toolUseId: string; prompt: string }[] = [];
  for (const b of r.response?.content ?? []) {
    if (b.type !== 'tool_use') continue;
    const tu = b as { id?: string; name?: string; input?: unknown };
    if (!SPAWN_TOOLS.has(tu.name ?? '')) continue;
    const p = (tu.input as { prompt?: unknown } | null)?.prompt;
    if (typeof p === 'string' && p.trim() !== '') out.push({ toolUseId: tu.id ?? '', prompt: p.trim() });
  }
  return out;
}

/** Text blocks of the first user message (trimmed), for matching against spawn prompts. */
export function firstUserTexts(body: MessagesRequest | null): string[] {
  const first = (body?.messages ?? []).find((m) => m.role === 'user');
  if (!first) return [];
  return blocksOf(first.content)
    .filter((b) => b.type === 'text')
    .map((b) => String((b as { text?: string }).text ?? '').trim())
    .filter((t) => t !== '');
}

/** hit: some prompt tokens were read from the cache; write: none read, some written; miss: neither; null: no usage. */
export function cacheStatus(r: Pick<TraceRequest, 'usage'>): 'hit' | 'write' | 'miss' | null {
  if (!r.usage) return null;
  if (r.usage.cache_read_input_tokens > 0) return 'hit';
  if (r.usage.cache_creation_input_tokens > 0) return 'write';
  return 'miss';
}
