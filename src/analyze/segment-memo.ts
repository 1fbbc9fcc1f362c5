import type { ContentBlock, MessageParam, MessagesRequest, TextBlock, ToolDefinition } from '../shared/anthropic.js';
import { isBillingLine, normalizeBlock, normalizeContent, stableStringify, systemBlockText } from './normalize.js';
import type { TokenCounter } from './token-counter.js';
import { hash } from 'node:crypto';

/**
 * Memoised promptSegments(): the same segments (same canonical texts, tools → system → messages), but each
 * tool definition / content block is looked up by its raw JSON text (native JSON.stringify) before the slow
 * canonicalisation (stableStringify + normalizeBlock) runs, so repeated content — the ~70 KB of tools and the
 * whole append-only history of every request — costs a hash lookup instead of a re-serialisation.
 * Equal canonical texts always get the same `id` (a moved cache_control marker changes the raw key but not the
 * text, so it maps to the same id). `count` is filled lazily from a TokenCounter.
 *
 * Memory is bounded for months of traffic: entries are keyed by the SHA-1 of their text (plus its length), a
 * text is released once it has been counted, and the raw-text lookup caches are dropped whenever the text they
 * hold passes `budgetChars` (they only save work: a dropped cache re-canonicalises, and the same text gets the
 * same id through its hash). What stays per distinct segment is its hash key and a small entry.
 */
export interface SegmentEntry {
  /** The canonical text until it has been counted (then null: counts are what analyses keep). */
  text: string | null;
  id: number;
  count: number;
}

/** Default budget for the raw lookup caches and uncounted texts (UTF-16 chars: ~2 bytes each). */
export const MEMO_BUDGET_CHARS = 128 * 2 ** 20;

/** Content key of a text: its SHA-1 (native, ~700 M chars/s here; a JS hash loop did ~300 M) and its length. */
export function textKey(t: string): string {
  return hash('sha1', t, 'base64') + t.length;
}

export interface MemoSegment {
  kind: 'tool' | 'system' | 'message';
  name?: string;
  role?: string;
  blockType?: string;
  messageIndex?: number;
  entry: SegmentEntry;
}

const TOOL_RESULT_KEYS = new Set(['type', 'tool_use_id', 'content', 'is_error', 'cache_control']);
const TOOL_USE_KEYS = new Set(['type', 'id', 'name', 'input', 'cache_control']);
function onlyKeys(o: Record<string, unknown>, allowed: ReadonlySet<string>): boolean {
  for (const k in o) if (!allowed.has(k)) return false;
  return true;
}

/** The segments of one message (memoised per frozen message object). */
export interface MessageRecord {
  role: string;
  entries: SegmentEntry[];
  blockTypes: string[];
  /** `${role}.${blockType}` per segment (token breakdown keys). */
  keys: string[];
}

/** The segments of a tools array (memoised per frozen array). */
export interface ToolsRecord {
  names: string[];
  entries: SegmentEntry[];
  /** Extra per-record slot for callers (e.g. the interned sorted-name key). */
  key: number;
}

/** Deeply immutable as far as we can cheaply tell (bodies from the SQLite importers are deep-frozen). */
function frozen(o: unknown): o is object {
  return o !== null && typeof o === 'object' && Object.isFrozen(o);
}

export class SegmentMemo {
  /** Chars held by the raw caches' keys (approximate) and by entries' uncounted texts. */
  private rawChars = 0;
  private textChars = 0;
  /** How many times the raw caches were dropped (tests, diagnostics). */
  cacheDrops = 0;

  /**
   * `keepText: false` (analyses without a token counter) keeps no canonical text at all: ids are all they need.
   */
  constructor(
    private readonly budgetChars = MEMO_BUDGET_CHARS,
    private readonly keepText = true,
  ) {}

  /** Chars currently held (raw cache keys + uncounted texts). */
  get held(): number {
    return this.rawChars + this.textChars;
  }

  /** Identity memo for frozen (shared, immutable) message objects and tools arrays: no re-walk at all. */
  private readonly byMessage = new WeakMap<object, MessageRecord>();
  private readonly byTools = new WeakMap<object, ToolsRecord>();

  private byRaw = new Map<string, SegmentEntry>();
  /** Two-level lookup (outer key → content string → entry): hashes the content string in place, no copy. */
  private nested = new Map<string, Map<string, SegmentEntry>>();
  /** textKey(canonical text) → entry. */
  private readonly byText = new Map<string, SegmentEntry>();

  private intern(text: string): SegmentEntry {
    const k = textKey(text);
    let e = this.byText.get(k);
    if (!e) {
      e = { text: this.keepText ? text : null, id: this.byText.size + 1, count: -1 };
      this.byText.set(k, e);
      if (this.keepText) this.textChars += text.length;
    }
    return e;
  }

  /** Counts chars held by the raw caches; past the budget they go (entries and their ids stay). */
  private hold(chars: number): void {
    this.rawChars += chars;
    if (this.rawChars + this.textChars <= this.budgetChars) return;
    this.byRaw = new Map();
    this.nested = new Map();
    this.cacheDrops++;
    this.rawChars = 0;
  }

  /** Entry for an arbitrary canonical text (e.g. a system block). */
  text(text: string): SegmentEntry {
    return this.intern(text);
  }

  private viaRaw(raw: string, make: () => string): SegmentEntry {
    let e = this.byRaw.get(raw);
    if (!e) {
      e = this.intern(make());
      this.byRaw.set(raw, e);
      this.hold(raw.length);
    }
    return e;
  }

  private viaNested(outer: string, inner: string, make: () => string): SegmentEntry {
    let m = this.nested.get(outer);
    if (!m) {
      this.nested.set(outer, (m = new Map()));
      this.hold(outer.length);
    }
    let e = m.get(inner);
    if (!e) {
      e = this.intern(make());
      m.set(inner, e);
      this.hold(inner.length);
    }
    return e;
  }

  private block(b: ContentBlock, prefix: string): SegmentEntry {
    const o = b as unknown as Record<string, unknown>;
    switch (b.type) {
      case 'text':
        return typeof o.text === 'string' ? this.viaNested(prefix, o.text, () => prefix + (o.text as string)) : this.generic(b, prefix);
      case 'thinking':
        return this.viaNested(prefix + '\u0001think', String(o.thinking ?? ''), () => prefix + String(o.thinking ?? ''));
      case 'tool_result': {
        if (typeof o.content === 'string' && onlyKeys(o, TOOL_RESULT_KEYS)) {
          return this.viaNested(`${prefix}\u0001R${String(o.tool_use_id)}\u0001${String(o.is_error)}`, o.content, () => prefix + stableStringify(normalizeBlock(b)));
        }
        return this.generic(b, prefix);
      }
      case 'tool_use': {
        if (onlyKeys(o, TOOL_USE_KEYS)) {
          return this.viaNested(`${prefix}\u0001U${String(o.id)}\u0001${String(o.name)}`, JSON.stringify(o.input ?? null), () => prefix + stableStringify(normalizeBlock(b)));
        }
        return this.generic(b, prefix);
      }
      case 'image':
        return this.viaRaw(prefix + '\u0001I' + JSON.stringify(b), () => prefix + '<image ' + stableStringify((b as { source?: unknown }).source ?? null) + '>');
      default:
        return this.generic(b, prefix);
    }
  }

  private generic(b: ContentBlock, prefix: string): SegmentEntry {
    return this.viaRaw(prefix + '\u0001B' + JSON.stringify(b), () => prefix + stableStringify(normalizeBlock(b)));
  }

  /** The entry's token count (counted once; the text is released then). */
  count(e: SegmentEntry, counter: TokenCounter): number {
    if (e.count < 0) {
      if (e.text === null) throw new Error(`segment ${e.id} was released before it was counted`);
      e.count = counter.count(e.text);
      this.textChars -= e.text.length;
      e.text = null;
    }
    return e.count;
  }

  private tool(t: ToolDefinition): SegmentEntry {
    const { cache_control: _cc, description, ...rest } = t;
    const make = () => {
      const { cache_control: _c, ...r } = t;
      return stableStringify(r);
    };
    return typeof description === 'string' ? this.viaNested('T' + JSON.stringify(rest), description, make) : this.viaRaw('T' + JSON.stringify(t), make);
  }

  /** Tool segments of a tools array, in order (memoised by identity when the array is frozen). */
  tools(tools: readonly ToolDefinition[]): ToolsRecord {
    const hit = frozen(tools) ? this.byTools.get(tools) : undefined;
    if (hit) return hit;
    const rec: ToolsRecord = { names: tools.map((t) => t.name), entries: tools.map((t) => this.tool(t)), key: -2 };
    if (frozen(tools)) this.byTools.set(tools, rec);
    return rec;
  }

  /** Segments of one message, in block order (memoised by identity when the message is frozen). */
  message(m: MessageParam): MessageRecord {
    const memo = frozen(m) && (typeof m.content !== 'object' || m.content === null || Object.isFrozen(m.content));
    const hit = memo ? this.byMessage.get(m) : undefined;
    if (hit) return hit;
    const raw: ContentBlock[] = typeof m.content === 'string' ? normalizeContent(m.content) : (m.content ?? []);
    const rec: MessageRecord = { role: m.role, entries: [], blockTypes: [], keys: [] };
    for (let bi = 0; bi < raw.length; bi++) {
      const b = raw[bi]!;
      rec.entries.push(this.block(b, bi === 0 ? `<${m.role}>` : ''));
      rec.blockTypes.push(b.type);
      rec.keys.push(`${m.role ?? '?'}.${b.type ?? '?'}`);
    }
    if (memo) this.byMessage.set(m, rec);
    return rec;
  }

  /** System segments (billing line dropped). */
  system(system: MessagesRequest['system']): SegmentEntry[] {
    const sys: TextBlock[] = typeof system === 'string' ? [{ type: 'text', text: system }] : (system ?? []);
    const out: SegmentEntry[] = [];
    for (const s of sys) {
      if (s.type === 'text' && isBillingLine(s.text)) continue;
      out.push(typeof s.text === 'string' ? this.viaNested('\u0002system', s.text, () => s.text) : this.intern(systemBlockText(s)));
    }
    return out;
  }

  /** Same order and texts as promptSegments(body) (billing line dropped). */
  *segments(body: MessagesRequest): Generator<MemoSegment> {
    const tr = this.tools(body.tools ?? []);
    for (let i = 0; i < tr.entries.length; i++) yield { kind: 'tool', name: tr.names[i], entry: tr.entries[i]! };
    for (const entry of this.system(body.system)) yield { kind: 'system', entry };
    const msgs = body.messages ?? [];
    for (let mi = 0; mi < msgs.length; mi++) {
      const m = msgs[mi]!;
      const rec = this.message(m);
      for (let bi = 0; bi < rec.entries.length; bi++) yield { kind: 'message', role: m.role, blockType: rec.blockTypes[bi], messageIndex: mi, entry: rec.entries[bi]! };
    }
  }
}
