import { UsageError } from '../../shared/errors.js';
import type { Tokenizer } from './tokenizer.js';
import { chars4Tokenizer } from './chars4.js';
import { chunked } from './chunk.js';
import { createClaudeTokenizer } from './claude.js';
import { o200kTokenizer } from './o200k.js';
import { qwen3Tokenizer } from './qwen3.js';

export type { Tokenizer } from './tokenizer.js';

/**
 * Registry: name → lazy factory (heavy vocabularies load only when chosen). `getTokenizer` wraps each in
 * `chunked` (./chunk.ts): long texts are counted chunk by chunk, so the cost is linear in their length.
 */
export const TOKENIZERS: Record<string, () => Tokenizer> = {
  chars4: () => chars4Tokenizer,
  claude: createClaudeTokenizer,
  o200k: () => o200kTokenizer,
  qwen3: () => qwen3Tokenizer,
};

export const DEFAULT_TOKENIZER = 'chars4';

const instances = new Map<string, Tokenizer>();

export function getTokenizer(name: string = DEFAULT_TOKENIZER): Tokenizer {
  const make = TOKENIZERS[name];
  if (!make) throw new UsageError(`unknown tokenizer "${name}" (known: ${Object.keys(TOKENIZERS).join(', ')})`);
  let t = instances.get(name);
  if (!t) {
    t = chunked(make());
    instances.set(name, t);
  }
  return t;
}
