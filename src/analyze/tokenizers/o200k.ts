import type { Tokenizer } from './tokenizer.js';
import { lazyRequire } from './lazy-require.js';

type O200k = typeof import('gpt-tokenizer/encoding/o200k_base');
let mod: O200k | undefined;
/** Loaded on first use (the vocabulary is large). */
export function o200k(): O200k {
  return (mod ??= lazyRequire('gpt-tokenizer/encoding/o200k_base') as O200k);
}

/** OpenAI's o200k_base BPE (gpt-tokenizer, pure JS). A different vocabulary from Claude's: use for comparison. */
export const o200kTokenizer: Tokenizer = {
  name: 'o200k',
  description: 'OpenAI o200k_base BPE (gpt-tokenizer)',
  encode(text: string): number[] {
    return o200k().encode(text, { allowedSpecial: 'all' });
  },
  count(text: string): number {
    return o200k().countTokens(text, { allowedSpecial: 'all' });
  },
};
