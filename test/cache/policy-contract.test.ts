import { describe, expect, it } from 'vitest';
import { CACHE_POLICIES, createPolicy } from '../../src/analyze/cache/index.js';
import type { PolicyOptions } from '../../src/analyze/cache/policy.js';
import { req, range } from './helpers.js';

/** The one contract every registered cache policy passes. */
const OPTS: PolicyOptions = { capacityBlocks: 10_000, ttlS: 300 };

describe.each(Object.keys(CACHE_POLICIES))('cache policy contract: %s', (name) => {
  const A = req({ ids: range(1, 40), t: 0 }); // 2560 tokens, breakpoint at the end (above every model minimum for sonnet-4-5)

  it('is registered with a description and its own name', () => {
    expect(CACHE_POLICIES[name]!.description.length).toBeGreaterThan(5);
    expect(createPolicy(name, OPTS).name).toBe(name);
  });

  it('misses everything on an empty cache', () => {
    const p = createPolicy(name, OPTS);
    expect(p.lookup('', A, 0)).toMatchObject({ readTokens: 0, readBlocks: 0 });
  });

  it('after a write, the same prompt reads its whole cached prefix; creation is what was new', () => {
    const p = createPolicy(name, OPTS);
    const first = p.lookup('', A, 0);
    expect(p.write('', A, 1, first).createdTokens).toBe(2560);
    const again = p.lookup('', { ...A, t: 2 }, 2);
    expect(again.readTokens).toBe(2560);
    expect(again.readBlocks).toBe(40);
    expect(p.write('', { ...A, t: 2 }, 3, again).createdTokens).toBe(0);
  });

  it('an append-only successor reads at least the shared prefix and never more than it', () => {
    const p = createPolicy(name, OPTS);
    p.write('', A, 1, p.lookup('', A, 0));
    const B = req({ ids: [...range(1, 40), ...range(100, 20)], t: 5, segmentEnds: undefined });
    const r = p.lookup('', B, 5);
    expect(r.readTokens).toBe(2560);
    expect(r.readTokens).toBeLessThanOrEqual(B.inputTokens);
  });

  it('a prompt diverging at block 10 reads no more than 10 blocks', () => {
    const p = createPolicy(name, OPTS);
    p.write('', A, 1, p.lookup('', A, 0));
    const C = req({ ids: [...range(1, 10), ...range(500, 30)], t: 5 });
    expect(p.lookup('', C, 5).readBlocks).toBeLessThanOrEqual(10);
  });

  it('namespaces (conversation scope) do not share entries', () => {
    const p = createPolicy(name, OPTS);
    p.write('conv-a', A, 1, p.lookup('conv-a', A, 0));
    expect(p.lookup('conv-b', A, 2).readTokens).toBe(0);
    expect(p.lookup('conv-a', A, 2).readTokens).toBe(2560);
  });

  it('reports a non-negative working set that grows with writes', () => {
    const p = createPolicy(name, OPTS);
    expect(p.size(0)).toBe(0);
    p.write('', A, 1, p.lookup('', A, 0));
    expect(p.size(2)).toBeGreaterThan(0);
  });
});
