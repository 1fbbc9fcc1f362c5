import type { Tokenizer } from './tokenizer.js';
import { lazyRequire } from './lazy-require.js';

/**
 * Anthropic's published Claude tokenizer (@anthropic-ai/tokenizer: tiktoken/WASM with the Claude 2 BPE ranks,
 * NFKC-normalised input). It is the legacy vocabulary — current models tokenise somewhat differently, which is
 * why analyses report a calibration ratio against API usage. Slow (~0.2–1 M tok/s here, ~1 s to load):
 * callers go through the content-addressed TokenCounter so each distinct text is encoded once.
 */
export function createClaudeTokenizer(): Tokenizer {
  const { getTokenizer: loadClaude } = lazyRequire('@anthropic-ai/tokenizer') as typeof import('@anthropic-ai/tokenizer');
  const enc = loadClaude();
  return {
    name: 'claude',
    description: "Anthropic's legacy Claude BPE (@anthropic-ai/tokenizer); calibrate against API usage",
    encode(text: string): Uint32Array {
      return enc.encode(text.normalize('NFKC'), 'all');
    },
    count(text: string): number {
      return enc.encode(text.normalize('NFKC'), 'all').length;
    },
  };
}
