import type { Tokenizer } from './tokenizers/tokenizer.js';

/**
 * Content-addressed token counting: each distinct text is tokenised once (text → count), so the cost of
 * counting a trace follows its unique content, not its effective (repeated-prefix) size. The text itself is
 * the key (V8 hashes strings natively); `uniqueChars` bounds the memory kept.
 */
export class TokenCounter {
  private readonly cache = new Map<string, number>();
  /** Texts tokenised (cache misses) and characters they held. */
  misses = 0;
  uniqueChars = 0;
  hits = 0;
  constructor(readonly tokenizer: Tokenizer) {}
  count(text: string): number {
    if (text.length === 0) return 0;
    const c = this.cache.get(text);
    if (c !== undefined) {
      this.hits++;
      return c;
    }
    const n = this.tokenizer.count(text);
    this.cache.set(text, n);
    this.misses++;
    this.uniqueChars += text.length;
    return n;
  }
  get size(): number {
    return this.cache.size;
  }
}
