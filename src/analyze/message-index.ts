import type { TraceRequest } from '../shared/trace-record.js';
import type { RequestFacts } from './request-facts.js';

/**
 * Message index: the API response `message.id` ↔ the request that produced it. With Claude Code JSONL at
 * hand (`--jsonl-dir`), each JSONL API call (keyed by its assistant message.id) is matched to the DB row with
 * the same response id, and the row takes the JSONL's linkage (agent / conversation / parent agent) as hints.
 */
export interface JsonlLink {
  jsonlId: string;
  agentId?: string;
  parentAgentId?: string;
  isSidechain?: boolean;
  conversationId?: string;
  spawnedByToolUseId?: string;
}

export interface MessageIndex {
  /** response message id → request id */
  byMessageId: ReadonlyMap<string, string>;
  /** request id → JSONL link (only rows matched to a JSONL call) */
  jsonl: ReadonlyMap<string, JsonlLink>;
  /** JSONL calls whose message id matched no request. */
  unmatchedJsonl: number;
}

export function buildMessageIndex(facts: readonly RequestFacts[], jsonl?: Iterable<TraceRequest>): MessageIndex {
  const byMessageId = new Map<string, string>();
  for (const f of facts) if (f.messageId && !byMessageId.has(f.messageId)) byMessageId.set(f.messageId, f.id);
  const links = new Map<string, JsonlLink>();
  let unmatched = 0;
  if (jsonl) {
    for (const j of jsonl) {
      const rid = j.messageId ? byMessageId.get(j.messageId) : undefined;
      if (!rid) {
        unmatched++;
        continue;
      }
      links.set(rid, { jsonlId: j.id, ...(j.hints ?? {}) });
    }
  }
  return { byMessageId, jsonl: links, unmatchedJsonl: unmatched };
}

/** Facts with JSONL linkage applied as hints (new objects; the input is not modified). */
export function applyJsonlLinks(facts: readonly RequestFacts[], index: MessageIndex): RequestFacts[] {
  return facts.map((f) => {
    const l = index.jsonl.get(f.id);
    if (!l || !l.agentId) return f;
    const { jsonlId: _j, ...hints } = l;
    return { ...f, hints };
  });
}
