/**
 * Flattened agents: parallel agents recorded as interleaved top-level requests with no sub-agent marker
 * (Workflow-tool fan-outs in Weka / cc-traces-weka files) are split back into agents by longest-common-prefix
 * chains of hash ids, the rule AIPerf's Weka loader uses:
 *
 * 1. In (t, index) order, a request extends the chain whose last request's hash ids are a complete prefix of its
 *    own, whose last request has ended by its start (t + api_time ≤ t'), and whose model is the same; the deepest
 *    such tail wins. Otherwise it founds a new chain, forked from the chain tail sharing the longest prefix.
 * 2. A fork whose source request stayed the last of its chain (nothing ever pulled back to the longer state) is
 *    the same agent continuing after a context edit (compaction): the deepest such fork is spliced back on.
 *
 * Requests without hash ids stay on the main chain. Pure: indexes in, chain index per request out.
 */
export interface ChainInput {
  t: number;
  end: number;
  model: string | null;
  hashIds: readonly number[];
}

export interface ChainSplit {
  /** Chain of each input request (0 = the main chain: the one holding the first request). */
  chainOf: number[];
  chains: number;
  /** Chains spliced back as the same agent (compaction seams). */
  seams: number;
}

const EPS = 1e-6;

function lcp(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

interface Chain {
  members: number[];
  tail: number;
  /** Phase-1 fork: source request index and depth. */
  forkFrom: number | null;
  depth: number;
  alias: number | null;
}

export function splitAgentChains(reqs: readonly ChainInput[]): ChainSplit {
  const order = reqs.map((_, i) => i).sort((a, b) => reqs[a]!.t - reqs[b]!.t || a - b);
  const chains: Chain[] = [];
  const chainOf = new Array<number>(reqs.length).fill(0);
  const forksByTail = new Map<number, number[]>();
  for (const i of order) {
    const r = reqs[i]!;
    if (r.hashIds.length === 0) {
      if (!chains.length) chains.push({ members: [], tail: -1, forkFrom: null, depth: 0, alias: null });
      chains[0]!.members.push(i);
      continue;
    }
    let target = -1;
    let best = -1;
    let forkChain = -1;
    let forkDepth = 0;
    for (let c = 0; c < chains.length; c++) {
      const ch = chains[c]!;
      if (ch.tail < 0) continue;
      const tail = reqs[ch.tail]!;
      const tl = tail.hashIds.length;
      const d = lcp(tail.hashIds, r.hashIds);
      if (d === tl && tl > best && tail.end <= r.t + EPS && tail.model === r.model) {
        target = c;
        best = tl;
      }
      if (d > forkDepth) {
        forkDepth = d;
        forkChain = c;
      }
    }
    if (target >= 0) {
      const ch = chains[target]!;
      ch.members.push(i);
      ch.tail = i;
      chainOf[i] = target;
      continue;
    }
    const idx = chains.length;
    const from = forkChain >= 0 ? chains[forkChain]!.tail : null;
    chains.push({ members: [i], tail: i, forkFrom: from, depth: forkDepth, alias: null });
    chainOf[i] = idx;
    if (from !== null && forkDepth > 0) (forksByTail.get(from) ?? forksByTail.set(from, []).get(from)!).push(idx);
  }
  // Phase 2: join seams.
  const resolve = (c: number): number => {
    while (chains[c]!.alias !== null) c = chains[c]!.alias!;
    return c;
  };
  let seams = 0;
  for (const from of [...forksByTail.keys()].sort((a, b) => reqs[a]!.t - reqs[b]!.t || a - b)) {
    const owner = resolve(chainOf[from]!);
    const oc = chains[owner]!;
    if (oc.members[oc.members.length - 1] !== from) continue;
    const end = reqs[from]!.end;
    const cands = forksByTail.get(from)!.filter((c) => chains[c]!.alias === null && end <= reqs[chains[c]!.members[0]!]!.t + EPS);
    if (!cands.length) continue;
    const elected = cands.reduce((a, b) => (chains[b]!.depth > chains[a]!.depth ? b : a));
    oc.members.push(...chains[elected]!.members);
    chains[elected]!.alias = owner;
    seams++;
  }
  const live = new Map<number, number>();
  const mainChain = reqs.length ? resolve(chainOf[order[0]!]!) : 0;
  live.set(mainChain, 0);
  const out = chainOf.map((c) => {
    const r = resolve(c);
    if (!live.has(r)) live.set(r, live.size);
    return live.get(r)!;
  });
  return { chainOf: out, chains: live.size, seams };
}
