import type { ContentBlock, MessageParam, MessagesRequest, TextBlock } from '../shared/anthropic.js';

/**
 * Normalisation for prefix matching, shared by structural linking, the block model and the server's prompt
 * cache. Real Claude Code traffic moves cache_control markers to the newest block on every request, turns a
 * marked single text block into a plain string later, and puts a per-conversation billing line in system[0]:
 * none of those change what the model reads, so none may break a prefix match.
 */

const BILLING_PREFIX = 'x-anthropic-billing-header';

export function isBillingLine(text: string): boolean {
  return text.trimStart().startsWith(BILLING_PREFIX);
}

/** Drops cache_control everywhere and thinking signatures (they are not model input). */
export function normalizeBlock(block: ContentBlock): ContentBlock {
  const b = block as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(b)) {
    if (k === 'cache_control') continue;
    if (k === 'signature' && (b.type === 'thinking' || b.type === 'redacted_thinking')) continue;
    if (k === 'content' && b.type === 'tool_result') {
      out.content = normalizeContent(b.content as MessageParam['content']);
      continue;
    }
    out[k] = b[k];
  }
  return out as unknown as ContentBlock;
}

/** A plain string and a list holding a single text block are the same content. */
export function normalizeContent(content: MessageParam['content'] | undefined | null): ContentBlock[] {
  if (content === undefined || content === null) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  if (!Array.isArray(content)) return [];
  return content.map(normalizeBlock);
}

export interface NormalizeOptions {
  /** Remove the per-conversation billing line from system (default true). */
  dropBillingLine?: boolean;
}

export function normalizeSystem(system: MessagesRequest['system'], opts: NormalizeOptions = {}): TextBlock[] {
  const drop = opts.dropBillingLine ?? true;
  const blocks: TextBlock[] = typeof system === 'string' ? [{ type: 'text', text: system }] : (system ?? []);
  return blocks
    .filter((b) => !(drop && b.type === 'text' && isBillingLine(b.text)))
    .map((b) => ({ type: 'text', text: b.text }));
}

/**
 * The text a system block contributes: its `text`, or — for a non-text block (a document, an image) — its stable
 * JSON, so such a block keeps a text of its own (it has no `text` to tokenise or to key on).
 */
export function systemBlockText(b: TextBlock): string {
  return typeof b.text === 'string' ? b.text : stableStringify(normalizeBlock(b as unknown as ContentBlock));
}

/** Stable JSON (sorted object keys) so equal content always serialises to equal text. */
export function stableStringify(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return '[' + v.map(stableStringify).join(',') + ']';
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + stableStringify(o[k])).join(',') + '}';
}

/** Where a segment of the serialised prompt came from (for token breakdowns and miss explanations). */
export interface PromptSegment {
  /** 'tool' (one per tool definition), 'system' (one per system block), 'message' (one per content block). */
  kind: 'tool' | 'system' | 'message';
  /** Tool name for 'tool'; role for 'message'. */
  name?: string;
  role?: string;
  /** Content block type for 'message' segments (text, tool_use, tool_result, thinking, image, …). */
  blockType?: string;
  messageIndex?: number;
  blockIndex?: number;
  /** Canonical text of the segment — what gets tokenised. */
  text: string;
  /** The original block carried a cache_control breakpoint. */
  cacheControl?: boolean;
  cacheTtl?: '5m' | '1h';
}

function blockText(b: ContentBlock): string {
  switch (b.type) {
    case 'text':
      return (b as TextBlock).text;
    case 'thinking':
      return String((b as { thinking?: string }).thinking ?? '');
    case 'image': {
      // Images are opaque: stand in with a stable digest-sized marker of the source.
      return '<image ' + stableStringify((b as { source?: unknown }).source ?? null) + '>';
    }
    default:
      return stableStringify(normalizeBlock(b));
  }
}

function ccOf(b: unknown): { cacheControl?: boolean; cacheTtl?: '5m' | '1h' } {
  const cc = (b as { cache_control?: { ttl?: '5m' | '1h' } } | null)?.cache_control;
  if (!cc) return {};
  return { cacheControl: true, cacheTtl: cc.ttl === '1h' ? '1h' : '5m' };
}

/**
 * Serialises a request in API order — tools → system → messages — as normalised segments.
 * cache_control positions are reported (cacheControl flags) but do not change any text.
 */
export function promptSegments(body: MessagesRequest, opts: NormalizeOptions = {}): PromptSegment[] {
  const out: PromptSegment[] = [];
  for (const t of body.tools ?? []) {
    const { cache_control, ...rest } = t;
    out.push({ kind: 'tool', name: t.name, text: stableStringify(rest), ...ccOf({ cache_control }) });
  }
  const drop = opts.dropBillingLine ?? true;
  const sys: TextBlock[] = typeof body.system === 'string' ? [{ type: 'text', text: body.system }] : (body.system ?? []);
  for (const s of sys) {
    if (drop && s.type === 'text' && isBillingLine(s.text)) continue;
    out.push({ kind: 'system', text: systemBlockText(s), ...ccOf(s) });
  }
  (body.messages ?? []).forEach((m, mi) => {
    // A plain string is the same as a single text block (normalizeContent), so both serialise identically.
    const raw: ContentBlock[] = typeof m.content === 'string' ? normalizeContent(m.content) : (m.content ?? []);
    raw.forEach((b, bi) => {
      out.push({
        kind: 'message',
        role: m.role,
        blockType: b.type,
        messageIndex: mi,
        blockIndex: bi,
        text: (bi === 0 ? `<${m.role}>` : '') + blockText(b),
        ...ccOf(b),
      });
    });
  });
  return out;
}

/** Normalised, comparable key of one message (role + content), for prefix checks between requests. */
function messageKey(m: MessageParam): string {
  return m.role + '\u0000' + stableStringify(normalizeContent(m.content));
}

/** True when `a`'s normalised messages are a prefix of `b`'s (append-only growth). */
export function isMessagePrefix(a: MessageParam[], b: MessageParam[]): boolean {
  if (a.length > b.length) return false;
  for (let i = 0; i < a.length; i++) if (messageKey(a[i]!) !== messageKey(b[i]!)) return false;
  return true;
}
