import { describe, expect, it } from 'vitest';
import { NO_PREFIX, PrefixChains } from '../../src/analyze/prefix-chains.js';

/** A deterministic stream of 53-bit hashes (not the table's own mixing: an LCG over BigInt). */
function* hashes(seed: bigint): Generator<number> {
  let x = seed;
  for (;;) {
    x = (x * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n);
    yield Number(x >> 11n); // the top 53 bits
  }
}

describe('PrefixChains: one slot per distinct prefix, parents found after growth', () => {
  it('walks every chain back to its first message, through many resizes and shared prefixes', () => {
    const chains = new PrefixChains();
    const gen = hashes(42n);
    const expectedParent = new Map<number, number>();
    const tails: { tail: number; path: number[] }[] = [];
    for (let conv = 0; conv < 300; conv++) {
      // a conversation that grows append-only: every request re-adds its whole prefix
      const path: number[] = [];
      for (let turn = 0; turn < 40; turn++) {
        path.push(gen.next().value);
        let parent = NO_PREFIX;
        for (const h of path) {
          chains.add(h, parent);
          if (!expectedParent.has(h)) expectedParent.set(h, parent);
          parent = h;
        }
      }
      tails.push({ tail: path[path.length - 1]!, path });
    }
    expect(chains.size).toBe(300 * 40); // re-adding a known prefix adds nothing
    for (const { tail, path } of tails) {
      const walked: number[] = [];
      for (let h = tail; h !== NO_PREFIX; h = chains.parent(h)) walked.unshift(h);
      expect(walked).toEqual(path);
    }
    for (const [h, p] of expectedParent) expect(chains.parent(h)).toBe(p);
  });

  it('keeps hashes that differ only in their high or low bits apart, and refuses an unknown prefix', () => {
    const chains = new PrefixChains();
    const base = 2 ** 40;
    for (let i = 0; i < 5000; i++) {
      chains.add(base * (i + 1), NO_PREFIX); // same low 32 bits (0), different high bits
      chains.add(i, base * (i + 1)); // small hashes: only low bits differ
    }
    expect(chains.size).toBe(10_000);
    for (let i = 0; i < 5000; i++) expect(chains.parent(i)).toBe(base * (i + 1));
    expect(() => chains.parent(base * 5001)).toThrow(/never added/);
  });
});
