import { describe, expect, it } from 'vitest';
import { createPolicy } from '../../src/analyze/cache/index.js';
import { simulate } from '../../src/analyze/cache/simulator.js';
import { sweep } from '../../src/analyze/cache/sweep.js';
import { req, range } from './helpers.js';

const TOOLS = range(1, 40); // a shared tools+system prefix

describe('simulate', () => {
  it('cache is written when prefill ends: 4 sub-agents sent in the same second all miss; a later one hits', () => {
    const subs = [0, 1, 2, 3].map((i) =>
      req({ id: `s${i}`, agentId: `sub${i}`, t: 10 + i * 0.2, ttft: 2, ids: [...TOOLS, ...range(1000 * (i + 1), 5)] }),
    );
    const late = req({ id: 'late', agentId: 'sub4', t: 20, ttft: 2, ids: [...TOOLS, ...range(9000, 5)] });
    const res = simulate([...subs, late], { policy: createPolicy('ideal'), writeAt: 'prefill-end' });
    const by = Object.fromEntries(res.requests.map((r) => [r.id, r]));
    for (const i of [0, 1, 2, 3]) expect(by[`s${i}`]!.readTokens).toBe(0);
    expect(by.s0!.miss?.reason).toBe('cold');
    for (const i of [1, 2, 3]) expect(by[`s${i}`]!.miss).toEqual({ reason: 'in-flight', block: 0 });
    expect(by.late!.readTokens).toBe(40 * 64);
    expect(by.s0!.writtenAt).toBe(12);
    // Writing at request start instead, the three later sub-agents hit the tools.
    const eager = simulate([...subs, late], { policy: createPolicy('ideal'), writeAt: 'start' });
    expect(eager.requests.filter((r) => r.readTokens === 40 * 64).length).toBe(4);
  });

  it('global scope shares tool prefixes across conversations; conversation scope does not', () => {
    const a = req({ id: 'a', conversationId: 'A', t: 0, ids: [...TOOLS, 7001, 7002] });
    const b = req({ id: 'b', conversationId: 'B', t: 100, ids: [...TOOLS, 8001] });
    const g = simulate([a, b], { policy: createPolicy('ideal'), scope: 'global' });
    const c = simulate([a, b], { policy: createPolicy('ideal'), scope: 'conversation' });
    expect(g.requests[1]!.readTokens).toBe(40 * 64);
    expect(c.requests[1]!.readTokens).toBe(0);
    expect(c.requests[1]!.miss?.reason).toBe('cold');
    expect(g.conversations.map((x) => x.conversationId)).toEqual(['A', 'B']);
  });

  it('explains misses: ttl expiry, prefix changed at block k; reports reuse distance', () => {
    const r1 = req({ id: '1', t: 0, ids: range(1, 10) });
    const r2 = req({ id: '2', t: 30, ids: [...range(1, 6), 555, 556, 557, 558, 559] }); // diverges at block 6
    const r3 = req({ id: '3', t: 1000, ids: range(1, 10) }); // after a 5 min TTL
    const res = simulate([r1, r2, r3], { policy: createPolicy('ttl', { ttlS: 300 }), writeAt: 'start' });
    expect(res.requests[1]!.miss).toEqual({ reason: 'prefix-changed', block: 6 });
    expect(res.requests[1]!.readTokens).toBe(6 * 64);
    expect(res.requests[1]!.reuseDistanceS).toBe(30);
    expect(res.requests[2]!.miss?.reason).toBe('ttl-expired');
    expect(res.overall.missReasons).toEqual({ cold: 1, 'prefix-changed': 1, 'ttl-expired': 1 });
  });

  it('compares with API usage token-weighted (Σcache_read / Σcontext) and reports |sim − API| in pp', () => {
    const u = (read: number, create: number, input: number) => ({ input_tokens: input, cache_read_input_tokens: read, cache_creation_input_tokens: create, output_tokens: 5 });
    const r1 = req({ id: '1', t: 0, ids: range(1, 10), usage: u(0, 640, 0) });
    const r2 = req({ id: '2', t: 10, ids: range(1, 20), usage: u(600, 0, 680) }); // API: 600/1280 hit
    const res = simulate([r1, r2], { policy: createPolicy('ideal'), writeAt: 'start' });
    // Simulated: r2 reads 10 of 20 blocks = 50 % of its 1280-token context.
    expect(res.requests[1]!.api).toMatchObject({ contextTokens: 1280, readTokens: 600, predictedReadTokens: 640 });
    expect(res.overall.apiHitRate).toBeCloseTo(600 / 1920, 12);
    expect(res.overall.simHitRateOnApi).toBeCloseTo(640 / 1920, 12);
    expect(res.overall.accuracyPp).toBeCloseTo((40 / 1920) * 100, 10);
    expect(Object.isFrozen(res.requests[0])).toBe(true);
  });

  it('sweeps: longer TTL never lowers the hit rate; more capacity never lowers it', () => {
    const reqs = [0, 200, 500, 1500, 5000].map((t, i) => req({ id: String(i), t, ids: [...TOOLS, ...range(100 * (i + 1), 3)] }));
    const ttl = sweep(reqs, 'ttl', [60, 300, 3600, 7200], { policy: 'ttl', options: {}, scope: 'global', writeAt: 'start' });
    const rates = ttl.points.map((p) => p.hitRate);
    for (let i = 1; i < rates.length; i++) expect(rates[i]!).toBeGreaterThanOrEqual(rates[i - 1]!);
    expect(rates[0]).toBe(0);
    expect(rates[3]).toBeGreaterThan(0);
    const cap = sweep(reqs, 'capacity', [10, 45, 1000], { policy: 'lru', options: {}, scope: 'global', writeAt: 'start' });
    expect(cap.points[0]!.hitRate).toBe(0);
    expect(cap.points[2]!.hitRate).toBeGreaterThan(0);
  });
});
