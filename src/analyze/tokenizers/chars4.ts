import type { Tokenizer } from './tokenizer.js';

/** The classic estimate: one token per 4 characters (ids are the 4-char chunks' char-code sums; deterministic). */
export const chars4Tokenizer: Tokenizer = {
  name: 'chars4',
  description: '1 token ≈ 4 characters (fast estimate, no vocabulary)',
  linear: true,
  encode(text: string): number[] {
    const out: number[] = [];
    for (let i = 0; i < text.length; i += 4) {
      let h = 0;
      for (let j = i; j < i + 4 && j < text.length; j++) h = (h * 31 + text.charCodeAt(j)) | 0;
      out.push(h >>> 0);
    }
    return out;
  },
  count(text: string): number {
    return Math.ceil(text.length / 4);
  },
};
