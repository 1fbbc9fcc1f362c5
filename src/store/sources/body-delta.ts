import { deepFreeze } from '../../shared/deep-freeze.js';
import { prefixSharedBodies } from './record-shape.js';
import type { MessagesRequest } from '../../shared/anthropic.js';
import { parseRequestBody } from './response-parse.js';

/**
 * Incremental request-body parsing for append-only conversations (Claude Code resends the whole history on
 * every turn; only the tail is new). `BodyDeltaParser.parse(bytes)` returns what `parseRequestBody(text)`
 * returns (a deep-equal object, or null), but when the body shares a raw prefix and suffix with a recently
 * parsed body, only the changed messages in the middle are decoded and `JSON.parse`d. It works on the UTF-8
 * bytes (the SQLite importers read bodies as BLOBs: no full UTF-8 → string decode either):
 *
 * - a body is "anchored" when its bytes are exactly the UTF-8 of `JSON.stringify` of its parsed value
 *   (compact JSON, as the Anthropic SDK sends it); its state records where the top-level `messages` array
 *   starts, where each message ends and where the array closes — all verified byte for byte, never guessed;
 * - a new body B is compared with the best recent state A: L = common prefix length (native memcmp);
 *   k = the number of A's messages that end within L; S = A's bytes from the `]` closing `messages` to the
 *   end. When B ends with S and the middle `B[end of message k .. |B| - |S|)` parses as a list of array
 *   elements, a JSON parser is in the same state at both cut points in A and B (both cuts follow an ASCII
 *   structural byte, so UTF-8 decoding splits cleanly there too), hence B = A with
 *   `messages = A.messages[0..k) ++ middle`. A moved cache_control marker only invalidates the message it
 *   moved from. Anything else (changed tools/system/metadata, non-compact JSON, duplicate keys, a fork)
 *   falls back to a full parse.
 *
 * Parsed bodies share unchanged values (message objects, tools, system) with earlier bodies, so anchored
 * bodies are deep-frozen: a consumer that mutates a body fails loudly instead of corrupting other requests.
 * Memory is bounded by `maxChains` states / `maxBytes` of body bytes (each state holds one body's bytes and
 * its parsed value, which shares most of its objects with the other states of its conversation).
 */

interface ChainState {
  buf: Buffer;
  body: Record<string, unknown>;
  keys: string[];
  messages: readonly unknown[];
  /** Byte offset just after the `[` opening the top-level messages array. */
  msgStart: number;
  /** ends[i] = byte offset just after message i (verified); may be shorter than messages (unverified tail). */
  ends: number[];
  /** Byte offset of the `]` closing the messages array. */
  suffixStart: number;
  sessionKey: string | null;
}

export interface BodyDeltaStats {
  /** Bodies parsed in full (first of a chain, or fallback). */
  full: number;
  /** Bodies parsed incrementally. */
  delta: number;
  /** Bytes decoded and handed to JSON.parse. */
  parsedBytes: number;
  /** Total bytes of the bodies seen. */
  totalBytes: number;
}


/** a[i, i+n) equals b[j, j+n) (native memcmp). */
function same(a: Buffer, i: number, b: Buffer, j: number, n: number): boolean {
  if (n === 0) return true;
  if (i < 0 || j < 0 || i + n > a.length || j + n > b.length) return false;
  return a.compare(b, j, j + n, i, i + n) === 0;
}

/** Length of the common prefix of a and b (galloping native compares, then bisection). */
export function commonPrefixLength(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  let step = 4096;
  while (i < n) {
    let s = Math.min(step, n - i);
    if (same(a, i, b, i, s)) {
      i += s;
      if (step < 1 << 18) step *= 2;
      continue;
    }
    while (s > 1) {
      const h = s >> 1;
      if (same(a, i, b, i, h)) {
        i += h;
        s -= h;
      } else s = h;
    }
    return a[i] === b[i] ? i + 1 : i;
  }
  return n;
}

const MESSAGES_KEY_LEN = Buffer.byteLength('"messages":[');

export class BodyDeltaParser {
  private chains: ChainState[] = [];
  private bytes = 0;
  readonly stats: BodyDeltaStats = { full: 0, delta: 0, parsedBytes: 0, totalBytes: 0 };

  /** At most `maxChains` recent bodies and `maxBytes` of body bytes are kept. */
  constructor(
    private readonly maxChains = 64,
    private readonly maxBytes = 64 * 2 ** 20,
  ) {}

  /** Same result as parseRequestBody(text). `sessionKey` (e.g. the row's session id) only orders candidates. */
  parse(input: Buffer | string | null | undefined, sessionKey: string | null = null): MessagesRequest | null {
    if (input === null || input === undefined || input.length === 0) return null;
    const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
    this.stats.totalBytes += buf.length;
    const fast = this.tryDelta(buf, sessionKey);
    if (fast) {
      // Its messages are an earlier body's (same objects, same positions) plus new ones: the shape check may stop
      // at the first it has already checked.
      prefixSharedBodies.add(fast);
      return fast;
    }
    this.stats.full++;
    this.stats.parsedBytes += buf.length;
    const body = parseRequestBody(typeof input === 'string' ? input : buf.toString('utf8'));
    if (body === null) return null;
    const st = anchor(buf, body as unknown as Record<string, unknown>, sessionKey);
    if (st) {
      // Only anchored bodies are ever shared, so only they need freezing.
      deepFreeze(body);
      this.push(st, null);
    }
    return body;
  }

  private push(st: ChainState, replaces: ChainState | null): void {
    if (replaces) {
      const i = this.chains.indexOf(replaces);
      if (i >= 0) {
        this.chains.splice(i, 1);
        this.bytes -= replaces.buf.length;
      }
    }
    this.chains.unshift(st);
    this.bytes += st.buf.length;
    while (this.chains.length > 1 && (this.chains.length > this.maxChains || this.bytes > this.maxBytes)) this.bytes -= this.chains.pop()!.buf.length;
  }

  private tryDelta(buf: Buffer, sessionKey: string | null): MessagesRequest | null {
    if (this.chains.length === 0) return null;
    // Candidates: same session key first, then most recent. Accept the first that reuses all but at most
    // its last message; otherwise the one reusing the most.
    const ordered = sessionKey === null ? this.chains : [...this.chains.filter((c) => c.sessionKey === sessionKey), ...this.chains.filter((c) => c.sessionKey !== sessionKey)];
    let best: { st: ChainState; k: number } | null = null;
    for (const st of ordered) {
      // Cheap rejection: `"messages":[` at the same offset, followed by the same first-message head.
      const from = st.msgStart - MESSAGES_KEY_LEN;
      const head = Math.min((st.ends[0] ?? st.msgStart) - st.msgStart, 256);
      if (!same(st.buf, from, buf, from, MESSAGES_KEY_LEN + head)) continue;
      const L = commonPrefixLength(st.buf, buf);
      if (L < st.msgStart) continue;
      // k = messages wholly inside the common prefix (ends[k-1] <= L).
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
    return this.apply(buf, best.st, best.k, sessionKey);
  }

  private apply(buf: Buffer, a: ChainState, k: number, sessionKey: string | null): MessagesRequest | null {
    const suffixLen = a.buf.length - a.suffixStart;
    let cut = k === 0 ? a.msgStart : a.ends[k - 1]!;
    const midEnd = buf.length - suffixLen;
    if (midEnd < cut) return null;
    if (!same(a.buf, a.suffixStart, buf, midEnd, suffixLen)) return null;
    if (k > 0 && midEnd > cut) {
      // After an element: the middle must be `,` + elements.
      if (buf[cut] !== 0x2c || midEnd === cut + 1) return null;
      cut++;
    }
    let added: unknown;
    try {
      added = JSON.parse('[' + buf.toString('utf8', cut, midEnd) + ']');
    } catch {
      return null;
    }
    if (!Array.isArray(added)) return null;
    this.stats.delta++;
    this.stats.parsedBytes += midEnd - cut;
    deepFreeze(added);
    const messages = Object.freeze(a.messages.slice(0, k).concat(added));
    const body: Record<string, unknown> = {};
    for (const key of a.keys) body[key] = key === 'messages' ? messages : a.body[key];
    Object.freeze(body);
    // New state: boundaries verified for the reused messages, and for new ones when they are compact JSON.
    const ends = a.ends.slice(0, k);
    let pos = k === 0 ? a.msgStart : a.ends[k - 1]!;
    for (let i = 0; i < added.length; i++) {
      const enc = Buffer.from((i > 0 || k > 0 ? ',' : '') + JSON.stringify(added[i]), 'utf8');
      if (!same(buf, pos, enc, 0, enc.length)) break;
      pos += enc.length;
      ends.push(pos);
    }
    const st: ChainState = { buf, body, keys: a.keys, messages, msgStart: a.msgStart, ends, suffixStart: midEnd, sessionKey: sessionKey ?? a.sessionKey };
    this.push(st, k >= a.ends.length - 1 ? a : null);
    return body as unknown as MessagesRequest;
  }
}

/** Verifies that `buf` is the UTF-8 of the compact serialisation of `body` and locates the messages array. */
function anchor(buf: Buffer, body: Record<string, unknown>, sessionKey: string | null): ChainState | null {
  const messages = body.messages;
  if (!Array.isArray(messages)) return null;
  const keys = Object.keys(body);
  if (keys.includes('__proto__') || buf[0] !== 0x7b /* { */) return null;
  let pos = 1;
  const at = (s: string): boolean => {
    const enc = Buffer.from(s, 'utf8');
    if (!same(buf, pos, enc, 0, enc.length)) return false;
    pos += enc.length;
    return true;
  };
  let msgStart = -1;
  const ends: number[] = [];
  let suffixStart = -1;
  for (let ki = 0; ki < keys.length; ki++) {
    const key = keys[ki]!;
    if (!at((ki > 0 ? ',' : '') + JSON.stringify(key) + ':')) return null;
    if (key === 'messages') {
      if (!at('[')) return null;
      msgStart = pos;
      for (let i = 0; i < messages.length; i++) {
        if (!at((i > 0 ? ',' : '') + JSON.stringify(messages[i]))) return null;
        ends.push(pos);
      }
      suffixStart = pos;
      if (!at(']')) return null;
    } else {
      const v = JSON.stringify(body[key]) as string | undefined;
      if (v === undefined || !at(v)) return null;
    }
  }
  if (msgStart < 0 || !at('}') || pos !== buf.length) return null;
  return { buf, body, keys, messages, msgStart, ends, suffixStart, sessionKey };
}
