/**
 * Pluggable tokenizer (registry in ./index.ts; shared contract test in test/analyze/tokenizers-contract.test.ts).
 * `encode` must be deterministic; `count(text) === encode(text).length`.
 */
export interface Tokenizer {
  readonly name: string;
  readonly description: string;
  encode(text: string): ArrayLike<number>;
  count(text: string): number;
  /** The cost is already linear in the text's length (no BPE): the registry does not chunk it (./chunk.ts). */
  readonly linear?: boolean;
}
