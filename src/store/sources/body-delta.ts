import type { MessagesRequest } from '../../shared/anthropic.js';
import { parseRequestBody } from './response-parse.js';

/**
 * Incremental request-body parsing for append-only conversations (Claude Code resends the whole history on
 * every turn; only the tail is new). `BodyDeltaParser.parse(text)` returns exactly what
 * `parseRequestBody(text)` returns (a deep-equal object, or null), but when `text` shares a raw prefix and
 * suffix with a recently parsed body, only the changed messages in the middle are `JSON.parse`d:
 *
 * - a body is "anchored" when its text is exactly `JSON.stringify` of its parsed value (compact JSON, as the
 *   Anthropic SDK sends it); its state records where the top-level `messages` array starts, where each
 *   message ends and where the array closes — all verified by re-serialising, never guessed;
 * - a new text B is compared with the best recent state A: L = common prefix length (native compares);
 *   k = the number of A's messages that end within L; S = A's text from the `]` closing `messages` to the end;
 *   when B ends with S and the middle `B[end of message k .. B.length - |S|)` parses as a list of array
 *   elements, B's JSON parser state at both cut points is identical to A's, so B = A with
 *   `messages = A.messages[0..k) ++ middle` (moved cache_control markers only invalidate the message they
 *   moved from). Anything else (changed tools/system/metadata, non-compact JSON, duplicate keys, a fork)
 *   falls back to a full parse.
 *
 * Parsed bodies share unchanged values (message objects, tools, system) with earlier bodies, so they are
 * deep-frozen: a consumer that mutates a body fails loudly instead of corrupting other requests.
 * Memory is bounded by `maxChains` states (each holds one body text and its parsed value).
 */

interface ChainState {
  text: string;
  body: Record<string, unknown>;
  keys: string[];
  messages: readonly unknown[];
  /** Offset just after the `[` opening the top-level messages array. */
  msgStart: number;
  /** ends[i] = offset just after message i (verified); may be shorter than messages when the tail is unverified. */
  ends: number[];
  /** Offset of the `]` closing the messages array. */
  suffixStart: number;
  sessionKey: string | null;
}

export interface BodyDeltaStats {
  /** Bodies parsed in full (first of a chain, or fallback). */
  full: number;
  /** Bodies parsed incrementally. */
  delta: number;
  /** Characters handed to JSON.parse. */
  parsedChars: number;
  /** Total characters of the bodies seen. */
  totalChars: number;
}

export function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    if (Array.isArray(o)) for (const v of o) deepFreeze(v);
    else for (const k in o) deepFreeze((o as Record<string, unknown>)[k]);
  }
  return o;
}

/** Length of the common prefix of a and b (native string compares over galloping chunks). */
export function commonPrefixLength(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  let step = 1024;
  while (i < n) {
    let s = Math.min(step, n - i);
    if (b.startsWith(a.substring(i, i + s), i)) {
      i += s;
      if (step < 65536) step *= 2;
      continue;
    }
    // The mismatch is in [i, i + s): bisect.
    while (s > 1) {
      const h = s >> 1;
      if (b.startsWith(a.substring(i, i + h), i)) {
        i += h;
        s -= h;
      } else s = h;
    }
    return a.charCodeAt(i) === b.charCodeAt(i) ? i + 1 : i;
  }
  return n;
}

const MESSAGES_KEY = JSON.stringify('messages') + ':';

export class BodyDeltaParser {
  private chains: ChainState[] = [];
  readonly stats: BodyDeltaStats = { full: 0, delta: 0, parsedChars: 0, totalChars: 0 };

  constructor(private readonly maxChains = 16) {}

  /** Same result as parseRequestBody(text). `sessionKey` (e.g. the row's session id) only orders candidates. */
  parse(text: string | null | undefined, sessionKey: string | null = null): MessagesRequest | null {
    if (typeof text !== 'string' || text === '') return null;
    this.stats.totalChars += text.length;
    const fast = this.tryDelta(text, sessionKey);
    if (fast) return fast;
    this.stats.full++;
    this.stats.parsedChars += text.length;
    const body = parseRequestBody(text);
    if (body === null) return null;
    deepFreeze(body);
    const st = anchor(text, body as unknown as Record<string, unknown>, sessionKey);
    if (st) this.push(st, null);
    return body;
  }

  private push(st: ChainState, replaces: ChainState | null): void {
    if (replaces) {
      const i = this.chains.indexOf(replaces);
      if (i >= 0) this.chains.splice(i, 1);
    }
    this.chains.unshift(st);
    if (this.chains.length > this.maxChains) this.chains.length = this.maxChains;
  }

  private tryDelta(text: string, sessionKey: string | null): MessagesRequest | null {
    if (this.chains.length === 0) return null;
    // Candidates: same session key first, then most recent. Accept the first that reuses all but at most
    // its last message; otherwise the one reusing the most.
    const ordered = sessionKey === null ? this.chains : [...this.chains.filter((c) => c.sessionKey === sessionKey), ...this.chains.filter((c) => c.sessionKey !== sessionKey)];
    let best: { st: ChainState; k: number } | null = null;
    for (const st of ordered) {
      if (text.length < st.msgStart + (st.text.length - st.suffixStart)) continue;
      // Cheap rejection: the messages array must start at the same place with the same first message head.
      const head = Math.min((st.ends[0] ?? st.msgStart) - st.msgStart, 256);
      if (!text.startsWith(st.text.substring(st.msgStart - MESSAGES_KEY.length - 1, st.msgStart + head), st.msgStart - MESSAGES_KEY.length - 1)) continue;
      const L = commonPrefixLength(st.text, text);
      if (L < st.msgStart) continue;
      // k = messages wholly inside the common prefix (boundary b_k <= L).
      let lo = 0;
      let hi = st.ends.length;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (st.ends[mid - 1]! <= L) lo = mid;
        else hi = mid - 1;
      }
      if (!best || lo > best.k) best = { st, k: lo };
      if (lo >= st.ends.length - 1) break;
    }
    if (!best) return null;
    return this.apply(text, best.st, best.k, sessionKey);
  }

  private apply(text: string, a: ChainState, k: number, sessionKey: string | null): MessagesRequest | null {
    const suffixLen = a.text.length - a.suffixStart;
    const cut = k === 0 ? a.msgStart : a.ends[k - 1]!;
    const midEnd = text.length - suffixLen;
    if (midEnd < cut) return null;
    if (!text.endsWith(a.text.substring(a.suffixStart))) return null;
    let middle = text.substring(cut, midEnd);
    if (k > 0 && middle !== '') {
      // After an element: the middle must be `,` + elements.
      if (middle.charCodeAt(0) !== 44 /* , */ || middle.length === 1) return null;
      middle = middle.substring(1);
    }
    let added: unknown;
    try {
      added = JSON.parse('[' + middle + ']');
    } catch {
      return null;
    }
    if (!Array.isArray(added)) return null;
    this.stats.delta++;
    this.stats.parsedChars += middle.length;
    deepFreeze(added);
    const messages = Object.freeze(a.messages.slice(0, k).concat(added));
    const body: Record<string, unknown> = {};
    for (const key of a.keys) body[key] = key === 'messages' ? messages : a.body[key];
    Object.freeze(body);
    // New state: boundaries verified for the reused messages, and for the new ones when the middle is compact.
    const ends = a.ends.slice(0, k);
    let pos = cut;
    let ok = true;
    for (let i = 0; i < added.length && ok; i++) {
      const s = (i > 0 || k > 0 ? ',' : '') + JSON.stringify(added[i]);
      if (text.startsWith(s, pos)) {
        pos += s.length;
        ends.push(pos);
      } else ok = false;
    }
    const st: ChainState = { text, body, keys: a.keys, messages, msgStart: a.msgStart, ends, suffixStart: midEnd, sessionKey: sessionKey ?? a.sessionKey };
    this.push(st, k >= a.ends.length - 1 ? a : null);
    return body as unknown as MessagesRequest;
  }
}

/** Verifies that `text` is the compact serialisation of `body` and locates the messages array; null otherwise. */
function anchor(text: string, body: Record<string, unknown>, sessionKey: string | null): ChainState | null {
  const messages = body.messages;
  if (!Array.isArray(messages)) return null;
  const keys = Object.keys(body);
  if (keys.includes('__proto__')) return null;
  let pos = 0;
  if (text.charCodeAt(0) !== 123 /* { */) return null;
  pos = 1;
  let msgStart = -1;
  const ends: number[] = [];
  let suffixStart = -1;
  for (let ki = 0; ki < keys.length; ki++) {
    const key = keys[ki]!;
    const kp = (ki > 0 ? ',' : '') + JSON.stringify(key) + ':';
    if (!text.startsWith(kp, pos)) return null;
    pos += kp.length;
    if (key === 'messages') {
      if (text.charCodeAt(pos) !== 91 /* [ */) return null;
      pos++;
      msgStart = pos;
      for (let i = 0; i < messages.length; i++) {
        const s = (i > 0 ? ',' : '') + JSON.stringify(messages[i]);
        if (!text.startsWith(s, pos)) return null;
        pos += s.length;
        ends.push(pos);
      }
      if (text.charCodeAt(pos) !== 93 /* ] */) return null;
      suffixStart = pos;
      pos++;
    } else {
      const v = JSON.stringify(body[key]);
      if (v === undefined || !text.startsWith(v, pos)) return null;
      pos += v.length;
    }
  }
  if (pos !== text.length - 1 || text.charCodeAt(pos) !== 125 /* } */ || msgStart < 0) return null;
  return { text, body, keys, messages, msgStart, ends, suffixStart, sessionKey };
}
