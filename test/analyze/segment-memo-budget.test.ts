/**
 * The segment memo under a tiny budget (its raw caches dropped again and again, texts released once counted) gives
 * the same facts — token breakdown, prefix linking — as with the default budget, on the real captured example, and
 * what it holds stays near the budget.
 */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Interner, extractFacts, type RequestFacts } from '../../src/analyze/request-facts.js';
import { buildConversationIndex } from '../../src/analyze/conversation-index.js';
import { TokenCounter } from '../../src/analyze/token-counter.js';
import { chars4Tokenizer } from '../../src/analyze/tokenizers/chars4.js';
import { readSource } from '../store/sources-fixtures.js';
import { ROOT } from '../helpers/paths.js';


const comparable = (f: RequestFacts) => {
  const { chains: _c, ...rest } = f;
  return rest;
};

describe('segment memo budget', () => {
  it('a 20k-char budget drops the raw caches many times and changes no fact', async () => {
    const rs = await readSource(join(ROOT, 'examples', 'requests.db'));
    expect(rs.length).toBeGreaterThan(30);
    const BUDGET = 20_000;
    const free = new Interner();
    const tight = new Interner(BUDGET);
    const counterA = new TokenCounter(chars4Tokenizer);
    const counterB = new TokenCounter(chars4Tokenizer);
    const a: RequestFacts[] = [];
    const b: RequestFacts[] = [];
    let maxHeld = 0;
    for (const r of rs) {
      a.push(extractFacts(r, { interner: free, counter: counterA }));
      b.push(extractFacts(r, { interner: tight, counter: counterB }));
      maxHeld = Math.max(maxHeld, tight.memo.held);
    }
    expect(tight.memo.cacheDrops).toBeGreaterThan(5);
    expect(free.memo.cacheDrops).toBe(0);
    // held = raw cache keys + uncounted texts: at most the budget plus what one request adds before the next drop
    const biggestBody = Math.max(...rs.map((r) => JSON.stringify(r.body ?? {}).length));
    expect(maxHeld).toBeLessThanOrEqual(BUDGET + 2 * biggestBody);
    expect(b.map(comparable)).toEqual(a.map(comparable));
    expect(b.some((f) => (f.breakdown?.total ?? 0) > 10_000)).toBe(true);
    expect(buildConversationIndex(b)).toEqual(buildConversationIndex(a));
  });
});
