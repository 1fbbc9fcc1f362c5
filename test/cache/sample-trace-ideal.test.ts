import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, HAS_SHARED } from '../helpers/paths.js';
import { openSource } from '../../src/store/sources/index.js';
import { silentLogger } from '../../src/shared/logger.js';
import { createPolicy } from '../../src/analyze/cache/index.js';
import { simulate } from '../../src/analyze/cache/simulator.js';

const DIR = join(FIXTURES, 'agentic-coding-analysis');
if (!HAS_SHARED) console.warn('sample-trace test skipped: ../shared/fixtures is absent');

interface Raw {
  t: number;
  in?: number;
  hash_ids?: number[];
  requests?: Raw[];
}

/**
 * Independent hand count: flatten (sub-agent requests at entry.t + t), walk in time order, and for each request
 * count the leading hash_ids already seen in ANY earlier request; hit tokens = that × block_size.
 */
function handCount(file: string): { hit: number; input: number; requests: number } {
  const d = JSON.parse(readFileSync(file, 'utf8')) as { block_size: number; requests: Raw[] };
  const flat: { t: number; in: number; ids: number[] }[] = [];
  for (const r of d.requests) {
    if (r.requests) for (const s of r.requests) flat.push({ t: r.t + s.t, in: s.in!, ids: s.hash_ids! });
    else flat.push({ t: r.t, in: r.in!, ids: r.hash_ids! });
  }
  flat.sort((a, b) => a.t - b.t);
  const seen = new Set<number>();
  let hit = 0;
  let input = 0;
  for (const r of flat) {
    let k = 0;
    for (const id of r.ids) {
      if (!seen.has(id)) break;
      k++;
    }
    hit += k * d.block_size;
    input += r.in;
    for (const id of r.ids) seen.add(id);
  }
  return { hit, input, requests: flat.length };
}

describe.skipIf(!HAS_SHARED)('ideal policy on kv-cache-tester samples = prefix-hit rate of their hash_ids', () => {
  for (const name of ['sample_trace.json', 'sample_trace_with_subagent.json']) {
    it(name, () => {
      const file = join(DIR, name);
      const expected = handCount(file);
      const src = openSource(file, { logger: silentLogger });
      expect(src.kind).toBe('kv-cache-tester');
      const reqs = [...src.blocks!()];
      expect(reqs.length).toBe(expected.requests);
      const res = simulate(reqs, { policy: createPolicy('ideal'), writeAt: 'start' });
      expect(res.overall.readTokens).toBe(expected.hit);
      expect(res.overall.inputTokens).toBe(expected.input);
      expect(res.overall.hitRate).toBe(expected.hit / expected.input);
    });
  }

  it('the sub-agent sample links 4 sub-agents to the parent with absolute times', () => {
    const src = openSource(join(DIR, 'sample_trace_with_subagent.json'), { logger: silentLogger });
    const reqs = [...src.blocks!()];
    const subs = new Set(reqs.filter((r) => r.parentAgentId !== null).map((r) => r.agentId));
    expect(subs.size).toBe(4);
    const first = reqs.find((r) => r.agentId === 'a44c06181169aa067')!;
    expect(first.t).toBeCloseTo(185.091, 6);
    expect(first.parentAgentId).toBe('02f3098e-6bc');
    expect(first.hashIds.length).toBe(Math.floor(first.inputTokens / 64));
  });
});
