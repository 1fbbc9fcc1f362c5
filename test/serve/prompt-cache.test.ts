import { describe, expect, it } from 'vitest';
import { PromptCache } from '../../src/serve/prompt-cache.js';

const seq = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe('PromptCache', () => {
  it('finds the entry with the longest common prefix (ties → most recently used)', () => {
    const c = new PromptCache({ capacityBytes: 1e9, kvBytesPerToken: 10 });
    c.put('a', [1, 2, 3, 4, 5]);
    c.put('b', [1, 2, 3, 9]);
    c.put('c', [7, 8]);
    expect(c.lookup([1, 2, 3, 4, 6])).toEqual({ id: 'a', length: 4 });
    expect(c.lookup([1, 2, 3, 9, 9, 9])).toEqual({ id: 'b', length: 4 });
    expect(c.lookup([1, 2])).toEqual({ id: 'b', length: 2 }); // b put last
    c.touch('a');
    expect(c.lookup([1, 2])).toEqual({ id: 'a', length: 2 });
    expect(c.lookup([5])).toBeNull();
    expect(c.lookup([])).toBeNull();
  });

  it('honours the usable filter (busy slots are skipped, shorter matches still found)', () => {
    const c = new PromptCache({ capacityBytes: 1e9, kvBytesPerToken: 1 });
    c.put('a', [1, 2, 3, 4]);
    c.put('b', [1, 2]);
    expect(c.lookup([1, 2, 3, 4, 5], (id) => id !== 'a')).toEqual({ id: 'b', length: 2 });
    expect(c.lookup([1, 2, 3], () => false)).toBeNull();
  });

  it('replacing an entry forgets its old tokens', () => {
    const c = new PromptCache({ capacityBytes: 1e9, kvBytesPerToken: 1 });
    c.put('a', [1, 2, 3]);
    c.put('a', [4, 5]);
    expect(c.lookup([1, 2, 3])).toBeNull();
    expect(c.lookup([4, 5, 6])).toEqual({ id: 'a', length: 2 });
    expect(c.tokensOf('a')).toEqual([4, 5]);
    expect(c.stats()).toMatchObject({ entries: 1, bytes: 2 });
    c.remove('a');
    expect(c.lookup([4])).toBeNull();
    expect(c.stats()).toMatchObject({ entries: 0, bytes: 0 });
  });

  it('evicts least-recently-used entries until the bytes fit', () => {
    const c = new PromptCache({ capacityBytes: 100 * 4, kvBytesPerToken: 4 });
    expect(c.put('a', seq(0, 40))).toEqual([]);
    expect(c.put('b', seq(1000, 40))).toEqual([]);
    c.touch('a'); // b is now the LRU
    expect(c.put('c', seq(2000, 40))).toEqual(['b']);
    expect(c.stats()).toMatchObject({ entries: 2, bytes: 80 * 4, capacityBytes: 400, evictions: 1 });
    expect(c.lookup(seq(1000, 5))).toBeNull();
    // busy entries are not evicted: the new one goes instead when nothing else may go
    expect(c.put('d', seq(3000, 90), () => false)).toEqual(['d']);
    expect(c.has('d')).toBe(false);
    expect(c.stats().evictions).toBe(2);
    // an entry larger than the whole capacity is not kept
    expect(c.put('e', seq(5000, 101))).toContain('e');
  });

  it('names the coldest of some ids: uncached first, else least recently used', () => {
    const c = new PromptCache({ capacityBytes: 1e9, kvBytesPerToken: 1 });
    c.put('a', [1]);
    c.put('b', [2]);
    expect(c.coldest(['a', 'b'])).toBe('a');
    c.touch('a');
    expect(c.coldest(['a', 'b'])).toBe('b');
    expect(c.coldest(['a', 'b', 'z'])).toBe('z');
    expect(c.coldest([])).toBeUndefined();
  });

  it('capacity 0 disables caching', () => {
    const c = new PromptCache({ capacityBytes: 0, kvBytesPerToken: 4 });
    expect(c.enabled).toBe(false);
    expect(c.put('a', [1, 2, 3])).toEqual(['a']);
    expect(c.lookup([1, 2, 3])).toBeNull();
    expect(c.stats()).toMatchObject({ entries: 0, bytes: 0, evictions: 0 });
  });

  it('counts hits, misses, cached and evaluated tokens', () => {
    const c = new PromptCache({ capacityBytes: 1e6, kvBytesPerToken: 4 });
    c.record(100, 0);
    c.record(120, 99);
    c.record(50, 10);
    expect(c.stats()).toMatchObject({ hits: 2, misses: 1, cachedTokens: 109, evaluatedTokens: 161 });
    expect(Object.isFrozen(c.stats())).toBe(true);
  });

  it('rejects nonsense sizes', () => {
    expect(() => new PromptCache({ capacityBytes: -1, kvBytesPerToken: 4 })).toThrow(RangeError);
    expect(() => new PromptCache({ capacityBytes: 1, kvBytesPerToken: 0 })).toThrow(RangeError);
  });
});
