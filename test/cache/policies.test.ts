import { describe, expect, it } from 'vitest';
import { createPolicy } from '../../src/analyze/cache/index.js';
import { minCacheableTokens } from '../../src/analyze/cache/anthropic-policy.js';
import { req, range } from './helpers.js';

describe('ttl policy', () => {
  it('expires blocks ttl seconds after their last use and explains the miss; a hit refreshes', () => {
    const p = createPolicy('ttl', { ttlS: 300 });
    const A = req({ ids: range(1, 8) });
    p.write('', A, 0, p.lookup('', A, 0));
    const hit = p.lookup('', A, 299); // refreshes to 599
    expect(hit.readBlocks).toBe(8);
    expect(p.lookup('', A, 598).readBlocks).toBe(8); // refreshed again (→ 898)
    const miss = p.lookup('', A, 898 + 1);
    expect(miss.readBlocks).toBe(0);
    expect(miss.reason).toBe('ttl-expired');
  });
});

describe('lru policy', () => {
  it('evicts the least recently used blocks beyond capacity', () => {
    const p = createPolicy('lru', { capacityBlocks: 10 });
    const A = req({ ids: range(1, 8) });
    const B = req({ ids: range(100, 8) });
    p.write('', A, 0, p.lookup('', A, 0));
    p.write('', B, 1, p.lookup('', B, 1)); // 16 blocks > 10: A's first 6 evicted
    expect(p.size(2)).toBe(10);
    const r = p.lookup('', A, 2);
    expect(r.readBlocks).toBe(0);
    expect(r.reason).toBe('evicted');
    expect(p.lookup('', B, 3).readBlocks).toBe(8);
  });
  it('needs a capacity', () => {
    expect(() => createPolicy('lru', {})).toThrow(/capacity/);
  });
});

describe('anthropic policy', () => {
  it('minimum cacheable prefix per model family (Anthropic docs)', () => {
    expect(minCacheableTokens('claude-sonnet-4-5-20250929')).toBe(1024);
    expect(minCacheableTokens('claude-opus-4-1-20250805')).toBe(1024);
    expect(minCacheableTokens('claude-3-7-sonnet-20250219')).toBe(1024);
    expect(minCacheableTokens('claude-sonnet-4-6')).toBe(2048);
    expect(minCacheableTokens('claude-3-5-haiku-20241022')).toBe(2048);
    expect(minCacheableTokens('claude-haiku-4-5-20251001')).toBe(4096);
    expect(minCacheableTokens('claude-opus-4-6')).toBe(4096);
  });

  it('writes only prefixes ending at a breakpoint, and only above the minimum', () => {
    const p = createPolicy('anthropic', {});
    const small = req({ ids: range(1, 10), model: 'claude-sonnet-4-5' }); // 640 tokens < 1024
    p.write('', small, 0, p.lookup('', small, 0));
    const r = p.lookup('', small, 1);
    expect(r.readTokens).toBe(0);
    expect(r.reason).toBe('below-minimum');
    // A breakpoint mid-prompt: only up to it is cached.
    const mid = req({ ids: range(1, 40), breakpoints: [20 * 64] });
    p.write('', mid, 2, p.lookup('', mid, 2));
    expect(p.lookup('', req({ ids: range(1, 40) , breakpoints: [20 * 64, 40 * 64] }), 3).readTokens).toBe(20 * 64);
  });

  it('reads an entry at a content-block end only within 20 content blocks before a breakpoint', () => {
    const ends = (n: number) => range(1, n).map((i) => i * 64);
    const p = createPolicy('anthropic', { minTokens: 64 });
    const A = req({ ids: range(1, 20), segmentEnds: ends(20), breakpoints: [20 * 64] });
    p.write('', A, 0, p.lookup('', A, 0));
    const near = req({ ids: range(1, 39), segmentEnds: ends(39), breakpoints: [39 * 64] }); // entry 19 blocks back
    expect(p.lookup('', near, 1).readTokens).toBe(20 * 64);
    const far = req({ ids: range(1, 41), segmentEnds: ends(41), breakpoints: [41 * 64] }); // 21 back: out of reach
    expect(p.lookup('', far, 2).readTokens).toBe(0);
  });

  it('1 h TTL keeps entries that a 5 m TTL loses', () => {
    const A = req({ ids: range(1, 40) });
    for (const [ttl, expected] of [[300, 0], [3600, 2560]] as const) {
      const p = createPolicy('anthropic', { ttlS: ttl });
      p.write('', A, 0, p.lookup('', A, 0));
      expect(p.lookup('', A, 1000).readTokens).toBe(expected);
    }
  });
});

describe('anthropic policy: per-breakpoint 1 h markers', () => {
  it('an entry written at a `ttl: "1h"` breakpoint outlives the 5 m default', () => {
    const p = createPolicy('anthropic', { ttlS: 300 });
    const A = { ...req({ ids: range(1, 40), breakpoints: [20 * 64, 40 * 64] }), longTtlBreakpoints: [20 * 64] };
    p.write('', A, 0, p.lookup('', A, 0));
    expect(p.lookup('', req({ ids: range(1, 40), breakpoints: [20 * 64, 40 * 64] }), 100).readTokens).toBe(40 * 64);
    expect(p.lookup('', req({ ids: range(1, 40), breakpoints: [20 * 64, 40 * 64] }), 1000).readTokens).toBe(20 * 64);
  });
});
