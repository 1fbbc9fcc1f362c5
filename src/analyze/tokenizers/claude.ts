import type { Tokenizer } from './tokenizer.js';
import { lazyRequire } from './lazy-require.js';

/**
 * Anthropic's published Claude tokenizer (@anthropic-ai/tokenizer: tiktoken/WASM with the Claude 2 BPE ranks,
 * NFKC-normalised input). It is the legacy vocabulary — current models tokenise somewhat differently, which is
 * why analyses report a calibration ratio against API usage. ~1 s to load.
 *
 * `encode` is the library's. `count` gives the same number faster: tiktoken splits the text at the special
 * tokens, then with its pre-tokenizer regex (`PAT` below, the vocabulary's `pat_str` with `\s` spelled out as
 * Unicode White_Space, which is what the Rust regex means by it) and runs BPE on each piece independently; so
 * count = specials + Σ BPE(piece), and each distinct piece is BPE-encoded once (by the library) and cached.
 * Pieces are re-split identically in isolation (checked against the library in the tokenizer tests on real
 * Claude Code bodies and edge cases).
 */
const WS = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PAT = new RegExp(`'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|[${WS}]+(?![^${WS}])|[${WS}]+`, 'gu');
const MAX_PIECES = 1 << 20;

export function createClaudeTokenizer(): Tokenizer {
  const mod = lazyRequire('@anthropic-ai/tokenizer') as typeof import('@anthropic-ai/tokenizer');
  const enc = mod.getTokenizer();
  const specials = ['<EOT>', '<META>', '<META_START>', '<META_END>', '<SOS>'];
  const special = new RegExp(specials.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  const pieces = new Map<string, number>();
  const pieceCount = (p: string): number => {
    let n = pieces.get(p);
    if (n === undefined) {
      n = enc.encode(p, 'all').length;
      if (pieces.size >= MAX_PIECES) pieces.clear();
      pieces.set(p, n);
    }
    return n;
  };
  const countPlain = (s: string): number => {
    let n = 0;
    PAT.lastIndex = 0;
    for (let m = PAT.exec(s); m !== null; m = PAT.exec(s)) n += pieceCount(m[0]);
    return n;
  };
  return {
    name: 'claude',
    description: "Anthropic's legacy Claude BPE (@anthropic-ai/tokenizer); calibrate against API usage",
    encode(text: string): Uint32Array {
      return enc.encode(text.normalize('NFKC'), 'all');
    },
    count(text: string): number {
      const t = text.normalize('NFKC');
      if (!t.includes('<')) return countPlain(t);
      let n = 0;
      let last = 0;
      special.lastIndex = 0;
      for (let m = special.exec(t); m !== null; m = special.exec(t)) {
        n += countPlain(t.slice(last, m.index)) + 1;
        last = m.index + m[0].length;
      }
      return n + countPlain(t.slice(last));
    },
  };
}
