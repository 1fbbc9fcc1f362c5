/**
 * A deterministic, labelled-synthetic corpus of kv-cache-tester / Weka trace files, shaped like SemiAnalysis'
 * cc-traces-weka (739 sessions, ~59k requests, ~4.9 G prompt tokens; one JSON file per session, hash ids numbered
 * from 1 in each file, 64-token blocks, sub-agent entries with `t` relative to the spawn). NOT real data: every file
 * says so in `_synthetic`. Same options ⇒ the same bytes.
 *
 *   npx tsx bench/corpus-gen.ts --out DIR [--sessions 739] [--requests-per-session 80] [--seed 1]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mulberry32 } from '../src/shared/prng.js';

export interface CorpusGenOptions {
  sessions: number;
  requestsPerSession: number;
  seed: number;
}

export const CC_TRACES_WEKA_SHAPE: CorpusGenOptions = { sessions: 739, requestsPerSession: 80, seed: 1 };
const BS = 64;
const LABEL = 'synthetic corpus from trace bench/corpus-gen.ts (cc-traces-weka-shaped); not recorded data';

/** Writes the corpus; returns its totals. */
export function generateCorpus(dir: string, o: CorpusGenOptions): { files: number; requests: number; promptTokens: number; bytes: number } {
  mkdirSync(dir, { recursive: true });
  const rnd = mulberry32(o.seed);
  let requests = 0;
  let promptTokens = 0;
  let bytes = 0;
  for (let s = 0; s < o.sessions; s++) {
    let next = 1;
    const ids: number[] = [];
    const grow = (to: number, list: number[]) => {
      while (list.length < Math.floor(to / BS)) list.push(next++);
    };
    const tool = 9_000 + Math.floor(rnd() * 6_000);
    const sys = 2_000 + Math.floor(rnd() * 4_000);
    let tokens = tool + sys + 5_000 + Math.floor(rnd() * 30_000);
    let t = 0;
    const entries: string[] = [];
    const req = (tt: number, inTok: number, list: number[], think: number) =>
      `{"t":${tt.toFixed(3)},"type":"s","model":"claude-opus-4-6","in":${inTok},"out":${100 + Math.floor(rnd() * 900)},"hash_ids":[${list.join(',')}],"input_types":["tool_result"],"output_types":["tool_use"],"stop":"tool_use","api_time":${(2 + rnd() * 10).toFixed(2)},"think_time":${think.toFixed(1)}}`;
    const mainN = Math.max(1, Math.round(o.requestsPerSession * 0.9));
    for (let i = 0; i < mainN; i++) {
      tokens += 300 + Math.floor(rnd() * 2_300);
      grow(tokens, ids);
      const think = rnd() < 0.1 ? 5 + rnd() * 60 : rnd() * 3;
      t += think + 2 + rnd() * 8;
      entries.push(req(t, tokens, ids, think));
      requests++;
      promptTokens += tokens;
      if (i === Math.floor(mainN / 2)) {
        // One sub-agent: its own prefix, `t` relative to the spawn.
        const sub: string[] = [];
        const sids: number[] = [];
        let st = 0;
        let stok = 10_000 + Math.floor(rnd() * 2_000);
        for (let j = 0; j < o.requestsPerSession - mainN; j++) {
          stok += 300 + Math.floor(rnd() * 2_000);
          grow(stok, sids);
          sub.push(req(st, stok, sids, 1));
          st += 2 + rnd() * 4;
          requests++;
          promptTokens += stok;
        }
        entries.push(`{"t":${(t + 1).toFixed(3)},"type":"subagent","agent_id":"a${s}","subagent_type":"Explore","duration_ms":${Math.round(st * 1000)},"total_tokens":${stok},"tool_use_count":${sub.length},"status":"completed","requests":[${sub.join(',')}],"models":["claude-haiku-4-5"],"tool_tokens":8000,"system_tokens":800}`);
        t += st;
      }
    }
    const text = `{"_synthetic":"${LABEL}","id":"synthetic-${String(s).padStart(4, '0')}","models":["claude-opus-4-6","claude-haiku-4-5"],"block_size":${BS},"hash_id_scope":"local","tool_tokens":${tool},"system_tokens":${sys},"requests":[${entries.join(',')}]}`;
    writeFileSync(join(dir, `session-${String(s).padStart(4, '0')}.json`), text);
    bytes += text.length;
  }
  return { files: o.sessions, requests, promptTokens, bytes };
}

if (process.argv[1] && /corpus-gen\.[jt]s$/.test(process.argv[1])) {
  const arg = (name: string, d: number) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : d;
  };
  const out = process.argv[process.argv.indexOf('--out') + 1];
  if (!process.argv.includes('--out') || !out) throw new Error('usage: corpus-gen.ts --out DIR [--sessions N] [--requests-per-session N] [--seed N]');
  const r = generateCorpus(out, { sessions: arg('--sessions', 739), requestsPerSession: arg('--requests-per-session', 80), seed: arg('--seed', 1) });
  console.log(JSON.stringify(r));
}
