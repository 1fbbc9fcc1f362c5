import { UsageError } from '../../shared/errors.js';
import type { Tokenizer } from './tokenizer.js';
import { chars4Tokenizer } from './chars4.js';

export type { Tokenizer } from './tokenizer.js';

/** Registry: name → lazy factory (heavy vocabularies load only when chosen). */
export const TOKENIZERS: Record<string, () => Tokenizer> = {
  chars4: () => chars4Tokenizer,
};

export const DEFAULT_TOKENIZER = 'chars4';

const instances = new Map<string, Tokenizer>();

export function getTokenizer(name: string = DEFAULT_TOKENIZER): Tokenizer {
  const make = TOKENIZERS[name];
  if (!make) throw new UsageError(`unknown tokenizer "${name}" (known: ${Object.keys(TOKENIZERS).join(', ')})`);
  let t = instances.get(name);
  if (!t) {
    t = make();
    instances.set(name, t);
  }
  return t;
}
