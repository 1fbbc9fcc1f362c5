import type { BenchModule } from './bench.js';
import { createChainHasher } from '../src/analyze/blocks/chain-hash.js';
import { createPolicy } from '../src/analyze/cache/index.js';
import { simulate } from '../src/analyze/cache/simulator.js';
import type { SimRequest } from '../src/analyze/cache/policy.js';

const BS = 64;

/**
 * A realistic agentic source, generated (not recorded): `conversations` sessions sharing one ~20k-token tools+system
 * prefix; each main agent grows append-only by 0.5–3k tokens a turn, with think times of 2–60 s, and spawns
 * sub-agents (own ~11k prefix, shared by all sub-agents) that run concurrently. Sized to ~100 M prompt tokens.
 */
export function syntheticSource(targetTokens = 100_000_000, seed = 42): SimRequest[] {
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  let nextId = 1;
  const fresh = (n: number) => Array.from({ length: n }, () => nextId++);
  const mainPrefix = fresh(Math.floor(20_000 / BS));
  const subPrefix = fresh(Math.floor(11_000 / BS));
  const out: SimRequest[] = [];
  let total = 0;
  let conv = 0;
  const mk = (id: string, c: string, agent: string, parent: string | null, t: number, ids: number[], tokens: number): SimRequest => ({
    id, conversationId: c, agentId: agent, parentAgentId: parent, t, model: 'claude-opus-4-6', inputTokens: tokens, outputTokens: 300,
    hashIds: ids, blockSize: BS, breakpoints: [mainPrefix.length * BS, tokens], apiTime: 5 + rnd() * 20, thinkTime: null, ttft: 1 + rnd() * 2, usage: null, stopReason: null,
  });
  while (total < targetTokens) {
    const c = `conv${conv++}`;
    let t = rnd() * 3600 * 8;
    let ids = [...mainPrefix];
    let tokens = ids.length * BS + 500;
    const turns = 30 + Math.floor(rnd() * 50);
    for (let i = 0; i < turns && total < targetTokens; i++) {
      const grow = 500 + Math.floor(rnd() * 2500);
      tokens += grow;
      ids = [...ids, ...fresh(Math.floor(tokens / BS) - ids.length)];
      out.push(mk(`${c}:${i}`, c, c, null, t, ids, tokens));
      total += tokens;
      if (rnd() < 0.08) {
        for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) {
          const a = `${c}:sub${i}.${k}`;
          let st = t + 1 + rnd();
          let sids = [...subPrefix];
          let stok = sids.length * BS + 300;
          for (let j = 0; j < 10 + Math.floor(rnd() * 20) && total < targetTokens; j++) {
            stok += 300 + Math.floor(rnd() * 2000);
            sids = [...sids, ...fresh(Math.floor(stok / BS) - sids.length)];
            out.push(mk(`${a}:${j}`, c, a, c, st, sids, stok));
            total += stok;
            st += 2 + rnd() * 4;
          }
        }
      }
      t += 10 + rnd() * 60;
    }
  }
  return out;
}

const bench: BenchModule = {
  name: 'simulate',
  description: 'block chain hashing (xxh64 vs sha256) and cache simulation throughput on a ~100 M-token generated source',
  async run() {
    const lines: string[] = [];
    const metrics: Record<string, number> = {};
    // Hashing: the same 64-token blocks through both algorithms, chained.
    const N = 100_000;
    const tokens = Uint32Array.from({ length: N * BS }, (_, i) => (i * 2654435761) >>> 0);
    const rates: Record<string, number> = {};
    for (const algo of ['xxh64', 'sha256'] as const) {
      const h = await createChainHasher(algo);
      let parent = '';
      const t0 = performance.now();
      for (let b = 0; b < N; b++) parent = h.hashBlock(parent, tokens, b * BS, (b + 1) * BS);
      const s = (performance.now() - t0) / 1000;
      rates[algo] = N / s;
      metrics[`${algo}_blocks_per_s`] = Math.round(N / s);
    }
    lines.push(`hash ${N} chained 64-token blocks: xxh64 ${Math.round(rates.xxh64!).toLocaleString()} blocks/s, sha256 ${Math.round(rates.sha256!).toLocaleString()} blocks/s → xxh64 is ${(rates.xxh64! / rates.sha256!).toFixed(2)}× sha256`);
    // Simulation throughput.
    const g0 = performance.now();
    const src = syntheticSource();
    const genS = (performance.now() - g0) / 1000;
    const totalTokens = src.reduce((a, r) => a + r.inputTokens, 0);
    metrics.source_tokens = totalTokens;
    metrics.source_requests = src.length;
    lines.push(`generated ${src.length.toLocaleString()} requests, ${(totalTokens / 1e6).toFixed(1)} M prompt tokens in ${genS.toFixed(1)} s`);
    for (const [name, opts] of [['ideal', {}], ['ttl', { ttlS: 300 }], ['lru', { capacityBlocks: 200_000 }], ['anthropic', { ttlS: 300 }]] as const) {
      const t0 = performance.now();
      const res = simulate(src, { policy: createPolicy(name, opts) });
      const s = (performance.now() - t0) / 1000;
      metrics[`${name}_mtokens_per_s`] = +(totalTokens / s / 1e6).toFixed(1);
      metrics[`${name}_hit_rate`] = +res.overall.hitRate.toFixed(4);
      lines.push(`simulate ${name}: ${s.toFixed(2)} s, ${(totalTokens / s / 1e6).toFixed(1)} M tokens/s, ${Math.round(src.length / s).toLocaleString()} requests/s, hit rate ${(res.overall.hitRate * 100).toFixed(1)} %`);
    }
    return { metrics, lines };
  },
};

export default bench;
