import type { Tokenizer } from './tokenizer.js';

/**
 * Bounded cost per text. BPE cost grows with the square of a pre-token's length (a 200 KB run of one character
 * took 25 s; 1 MB trapped the WASM tokenizer), so every registered tokenizer counts and encodes long texts in
 * chunks, and `count(text)` is the sum over `textChunks(text)` — linear in the text's length.
 *
 * Cuts: a text of at most `MAX_CHUNK` chars is one chunk (short texts are tokenised exactly as before). Longer
 * texts are cut before a whitespace character that follows a non-whitespace one — before a line break only
 * when it follows an ASCII letter or digit — the last such point within `MAX_CHUNK` chars. The pre-tokenizers
 * of these vocabularies (Claude's, o200k's) start a piece at such a point, so ordinary text counts the same
 * chunked or not (checked against the libraries on real Claude Code bodies in the tokenizer tests);
 * and a run of more than `MAX_RUN` chars without such a point (one character repeated, base64, minified code)
 * is cut every `MAX_RUN` chars (never between the halves of a surrogate pair).
 */
export const MAX_CHUNK = 16_384;
export const MAX_RUN = 512;

const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13) || c === 0x85 || c === 0xa0 || c === 0x3000 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029;
const isLineBreak = (c: number) => c === 10 || c === 13;
const isAsciiAlnum = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
/** A cut before text[i] keeps every pre-token whole (o200k joins punctuation with following line breaks). */
const isCutPoint = (c: number, prev: number) => isSpace(c) && !isSpace(prev) && (!isLineBreak(c) || isAsciiAlnum(prev));
const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;

/** The chunks a long text is tokenised in (see above); one chunk for a text of at most `maxChunk` chars. */
export function textChunks(text: string, maxChunk = MAX_CHUNK, maxRun = MAX_RUN): string[] {
  if (text.length <= maxChunk) return [text];
  const out: string[] = [];
  let start = 0;
  let lastCut = -1; // the latest cut point after `start` (before a space that follows a non-space)
  let runStart = 0; // where the current stretch without a cut point began
  for (let i = 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isCutPoint(c, text.charCodeAt(i - 1))) {
      lastCut = i;
      runStart = i;
    } else if (i - runStart >= maxRun && !isHighSurrogate(text.charCodeAt(i - 1))) {
      // A long stretch without a natural cut: cut here (and emit up to here so no chunk holds a long run).
      if (i > start) out.push(text.slice(start, i));
      start = i;
      lastCut = -1;
      runStart = i;
      continue;
    }
    if (i - start >= maxChunk) {
      const cut = lastCut > start ? lastCut : i;
      out.push(text.slice(start, cut));
      start = cut;
      lastCut = -1;
      if (runStart < start) runStart = start;
    }
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

/** The tokenizer with `count`/`encode` applied chunk by chunk to long texts (the registry wraps every tokenizer). */
export function chunked(t: Tokenizer): Tokenizer {
  if (t.linear) return t;
  return {
    name: t.name,
    description: t.description,
    count(text: string): number {
      if (text.length <= MAX_CHUNK) return t.count(text);
      let n = 0;
      for (const c of textChunks(text)) n += t.count(c);
      return n;
    },
    encode(text: string): ArrayLike<number> {
      if (text.length <= MAX_CHUNK) return t.encode(text);
      const out: number[] = [];
      for (const c of textChunks(text)) for (const id of Array.from(t.encode(c))) out.push(id);
      return out;
    },
  };
}
