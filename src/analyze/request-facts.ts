import type { Usage } from '../shared/anthropic.js';
import type { TraceRequest } from '../shared/trace-record.js';
import { stableStringify } from './normalize.js';
import { NO_PREFIX, PrefixChains } from './prefix-chains.js';
import { SegmentMemo } from './segment-memo.js';
import type { TokenCounter } from './token-counter.js';
import { emptyBreakdown, type TokenBreakdown } from './token-breakdown.js';
import {
  classifyRequest,
  firstUserTexts,
  spawnPrompts,
  lastUserHasToolResult,
  responseHasToolUse,
  type RequestKind,
  type SideKind,
} from './classify.js';

/**
 * The compact, body-free summary of one TraceRequest that every analysis works on, so a big source can be
 * streamed (bodies are dropped once their facts are taken). Linking keys are cumulative hashes of the
 * normalised messages (promptSegments: cache_control and signatures stripped, string ≡ single text block):
 * `prefixHashes[i]` identifies messages[0..i], so "A's messages are a prefix of B's" is
 * `B.prefixHashes[A.messageCount-1] === A.prefixHashes[A.messageCount-1]`.
 */
export interface RequestFacts {
  id: string;
  source: string;
  startedAtMs: number | null;
  endedAtMs: number | null;
  ttftMs: number | null;
  apiTimeMs: number | null;
  endpoint: string;
  model: string | null;
  isStreaming: boolean | null;
  status: number | null;
  sessionId: string | null;
  usage: Usage | null;
  stopReason: string | null;
  messageId: string | null;
  error: string | null;
  bodyComplete: boolean;
  hasBody: boolean;
  messageCount: number;
  /** Hash of the whole message list (NO_PREFIX without messages); shorter prefixes: `chains.parent()` upwards. */
  prefixTail: number;
  /** The analysis's shared prefix table (see prefix-chains.ts). */
  chains: PrefixChains;
  /** Interned id of the normalised system prompt (billing line dropped), -1 when none. */
  systemKey: number;
  /** Interned id of the sorted tool-name list, -1 when none. */
  toolsKey: number;
  toolCount: number;
  kind: RequestKind;
  side: SideKind | null;
  responseToolUse: boolean;
  lastUserToolResult: boolean;
  firstUserTexts: string[];
  spawns: { toolUseId: string; prompt: string }[];
  /** Tool_use ids in the response (to find which request spawned an agent). */
  responseToolUseIds: string[];
  /** Our token count of the prompt (null when no body). */
  breakdown: TokenBreakdown | null;
  /** Our count of the response content (output side). */
  responseTokens: number | null;
  hints: TraceRequest['hints'] | undefined;
}

/** Per-analysis memo of segment texts → ids / token counts (shared across the requests of one analysis). */
export class Interner {
  readonly memo: SegmentMemo;
  /** `keepText: false` when no token counter will ask for texts (linking only). */
  constructor(memoBudgetChars?: number, keepText = true) {
    this.memo = new SegmentMemo(memoBudgetChars, keepText);
  }
  readonly chains = new PrefixChains();
  /** One instance per distinct string kept in facts (each row's body parses to fresh copies). */
  private readonly strings = new Map<string, string>();
  id(s: string): number {
    return this.memo.text(s).id;
  }
  /**
   * The shared instance of `s`: every row of a source parses to fresh strings, so the model, endpoint and session
   * of a million requests would be a million copies each — and the first user message's texts (Claude Code puts
   * its CLAUDE.md and environment reminders there) KBs each.
   */
  str(s: string): string {
    const hit = this.strings.get(s);
    if (hit !== undefined) return hit;
    this.strings.set(s, s);
    return s;
  }
}

const M1 = 0x9e3779b1;
const M2 = 0x85ebca77;

export interface FactsOptions {
  /** Count tokens (needs a counter). Without it, `breakdown` is null and only linking facts are taken. */
  counter?: TokenCounter;
  interner: Interner;
}

/** Prefix hashes of the request being reduced (reused: only PrefixChains keeps them). */
let scratch = new Float64Array(256);

/** One shared empty array for the (usual) requests without spawns or tool calls: facts are never mutated. */
const NONE: never[] = [];
const orNone = <T>(xs: T[]): T[] => (xs.length === 0 ? NONE : xs);

export function extractFacts(r: TraceRequest, opts: FactsOptions): RequestFacts {
  const { interner, counter } = opts;
  const body = r.body;
  let prefixTail = NO_PREFIX;
  let systemKey = -1;
  let toolsKey = -1;
  let breakdown: TokenBreakdown | null = null;
  const messageCount = body?.messages?.length ?? 0;
  if (body) {
    breakdown = counter ? emptyBreakdown() : null;
    const memo = interner.memo;
    // Tools and messages come from identity-memoised records (frozen, shared objects from the SQLite
    // importers are walked once per analysis); the arithmetic below is the same for every request.
    const tools = memo.tools(body.tools ?? []);
    if (tools.names.length) {
      if (tools.key === -2) tools.key = interner.id([...tools.names.map((n) => n ?? '')].sort().join('\u0001'));
      toolsKey = tools.key;
    } else tools.key = -1;
    if (breakdown) {
      for (let i = 0; i < tools.entries.length; i++) {
        const n = memo.count(tools.entries[i]!, counter!);
        const name = tools.names[i] ?? '?';
        breakdown.tools += n;
        breakdown.perTool[name] = (breakdown.perTool[name] ?? 0) + n;
        breakdown.total += n;
      }
    }
    const sys = memo.system(body.system);
    if (sys.length) systemKey = interner.id('\u0002sys:' + sys.map((e) => e.id).join(','));
    if (breakdown) {
      for (const e of sys) {
        const n = memo.count(e, counter!);
        breakdown.system += n;
        breakdown.total += n;
      }
    }
    let h1 = 0x12345;
    let h2 = 0x6789;
    const msgs = body.messages;
    if (scratch.length < messageCount) scratch = new Float64Array(Math.max(messageCount, scratch.length * 2));
    for (let mi = 0; mi < messageCount; mi++) {
      const rec = memo.message(msgs[mi]!);
      const role = rec.role;
      const rid = role === 'user' ? 1 : role === 'assistant' ? 2 : 3;
      h1 = Math.imul(h1 ^ rid, M1);
      h2 = Math.imul(h2 ^ (rid * 7), M2);
      const entries = rec.entries;
      for (let bi = 0; bi < entries.length; bi++) {
        const e = entries[bi]!;
        const id = e.id;
        h1 = Math.imul(h1 ^ id, M1) ^ (h1 >>> 15);
        h2 = Math.imul(h2 + id, M2) ^ (h2 >>> 13);
        if (breakdown) {
          const n = memo.count(e, counter!);
          breakdown.messages += n;
          const k = rec.keys[bi]!;
          breakdown.byRoleBlock[k] = (breakdown.byRoleBlock[k] ?? 0) + n;
          breakdown.total += n;
        }
      }
      const h = (h1 >>> 0) * 2097152 + ((h2 >>> 0) & 0x1fffff);
      scratch[mi] = h;
      prefixTail = h;
    }
  }
  if (messageCount > 0) interner.chains.addChain(scratch, messageCount);
  let responseTokens: number | null = null;
  if (counter && r.response) {
    responseTokens = 0;
    for (const b of r.response.content ?? []) {
      const t =
        b.type === 'text'
          ? String((b as { text?: string }).text ?? '')
          : b.type === 'thinking'
            ? String((b as { thinking?: string }).thinking ?? '')
            : stableStringify(b);
      responseTokens += counter.count(t);
    }
  }
  const { kind, side } = classifyRequest(r);
  const apiTimeMs = r.durationMs ?? (r.startedAtMs !== null && r.endedAtMs !== null ? r.endedAtMs - r.startedAtMs : null);
  return {
    id: r.id,
    source: interner.str(r.source),
    startedAtMs: r.startedAtMs,
    endedAtMs: r.endedAtMs ?? (r.startedAtMs !== null && apiTimeMs !== null ? r.startedAtMs + apiTimeMs : null),
    ttftMs: r.ttftMs,
    apiTimeMs,
    endpoint: interner.str(r.endpoint),
    model: r.model === null ? null : interner.str(r.model),
    isStreaming: r.isStreaming,
    status: r.status,
    sessionId: r.sessionId === null ? null : interner.str(r.sessionId),
    usage: r.usage,
    stopReason: r.stopReason === null ? null : interner.str(r.stopReason),
    messageId: r.messageId,
    error: r.error,
    bodyComplete: r.bodyComplete,
    hasBody: body !== null,
    messageCount,
    prefixTail,
    chains: interner.chains,
    systemKey,
    toolsKey,
    toolCount: body?.tools?.length ?? 0,
    kind,
    side,
    responseToolUse: responseHasToolUse(r),
    lastUserToolResult: lastUserHasToolResult(body),
    firstUserTexts: orNone(firstUserTexts(body).map((t) => interner.str(t))),
    spawns: orNone(spawnPrompts(r)),
    responseToolUseIds: orNone((r.response?.content ?? []).filter((b) => b.type === 'tool_use').map((b) => String((b as { id?: string }).id ?? ''))),
    breakdown,
    responseTokens,
    hints: r.hints,
  };
}
