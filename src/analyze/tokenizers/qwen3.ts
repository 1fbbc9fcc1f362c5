import { o200k } from './o200k.js';
import type { Tokenizer } from './tokenizer.js';

/**
 * APPROXIMATION of the Qwen3 tokenizer. No Qwen vocabulary ships in any installed npm package and none can
 * be downloaded here, so this is NOT Qwen's BPE and its ids are NOT Qwen ids. It imitates the two things that
 * matter most for sizing: a byte-level BPE of similar size (o200k_base, 200k entries vs Qwen's 151k) for
 * text, and Qwen's pre-tokenizer rule that every digit is its own token (`\p{N}` one at a time; o200k groups
 * up to three). Digits get ids 0x7fff0000 + codepoint. Expect counts within several percent of Qwen3.
 */
const DIGIT_BASE = 0x7fff0000;

function encodeApprox(text: string): number[] {
  const { encode } = o200k();
  const out: number[] = [];
  let last = 0;
  for (const m of text.matchAll(/\p{N}+/gu)) {
    const i = m.index;
    if (i > last) for (const id of encode(text.slice(last, i), { allowedSpecial: 'all' })) out.push(id);
    for (const ch of m[0]) out.push(DIGIT_BASE + (ch.codePointAt(0)! & 0xffff));
    last = i + m[0].length;
  }
  if (last < text.length) for (const id of encode(text.slice(last), { allowedSpecial: 'all' })) out.push(id);
  return out;
}

export const qwen3Tokenizer: Tokenizer = {
  name: 'qwen3',
  description: 'APPROXIMATE Qwen3: o200k BPE + one token per digit (no Qwen vocabulary is available offline)',
  encode: encodeApprox,
  count: (text) => encodeApprox(text).length,
};
