import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES, HAS_SHARED, TRACE_BIN } from '../helpers/paths.js';
import { openSource } from '../../src/store/sources/index.js';
import { silentLogger } from '../../src/shared/logger.js';
import { blockRequestsOf } from '../../src/analyze/blocks/from-source.js';
import { getTokenizer } from '../../src/analyze/tokenizers/index.js';
import { createPolicy } from '../../src/analyze/cache/index.js';
import { simulate, type SimulationResult } from '../../src/analyze/cache/simulator.js';
import type { SimRequest } from '../../src/analyze/cache/policy.js';
import { anonymizeBlocks, exportBlocks, toKvTraces } from '../../src/store/exporters/index.js';

const ACA = join(FIXTURES, 'agentic-coding-analysis');
const dir = mkdtempSync(join(tmpdir(), 'trace-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
if (!HAS_SHARED) console.warn('export round-trip tests skipped: ../shared/fixtures is absent');

const blocksOf = async (path: string) => (await blockRequestsOf(openSource(path, { logger: silentLogger }), { tokenizer: getTokenizer('chars4') })).requests;
const core = (r: SimulationResult) => r.requests.map((q) => [q.t, q.inputTokens, q.readTokens, q.creationTokens, q.uncachedTokens]);

describe.skipIf(!HAS_SHARED)('export → import round trip gives the same simulation', () => {
  it('kv-cache-tester sample: re-export is field-for-field identical (requests, sub-agent entries) and simulates identically', async () => {
    const orig = JSON.parse(readFileSync(join(ACA, 'sample_trace_with_subagent.json'), 'utf8'));
    const reqs = await blocksOf(join(ACA, 'sample_trace_with_subagent.json'));
    const [trace] = toKvTraces(reqs);
    expect(trace!.requests).toEqual(orig.requests);
    for (const k of ['id', 'block_size', 'hash_id_scope', 'tool_tokens', 'system_tokens', 'models']) expect((trace as Record<string, unknown>)[k]).toEqual(orig[k]);
    const [file] = exportBlocks('kv-cache-tester', reqs, join(dir, 'kv'), 'x');
    const back = await blocksOf(file!);
    for (const policy of ['ideal', 'ttl', 'anthropic']) {
      const a = simulate(reqs, { policy: createPolicy(policy) });
      const b = simulate(back, { policy: createPolicy(policy) });
      expect(core(b)).toEqual(core(a));
      expect(b.overall).toEqual(a.overall);
    }
  });

  it('Mooncake: same hit tokens after export/import (no agent links or timings in that format)', async () => {
    const reqs = await blocksOf(join(ACA, 'sample_trace_with_subagent.json'));
    const [file] = exportBlocks('mooncake', reqs, join(dir, 'mc'), 'trace');
    const first = JSON.parse(readFileSync(file!, 'utf8').split('\n')[0]!);
    expect(Object.keys(first)).toEqual(['timestamp', 'input_length', 'output_length', 'hash_ids']);
    const src = openSource(file!, { logger: silentLogger });
    expect(src.kind).toBe('mooncake');
    expect(src.blockSize).toBe(64); // inferred from input_length vs hash_ids
    const back = [...src.blocks!()];
    for (const policy of ['ideal', 'ttl']) {
      const a = simulate(reqs, { policy: createPolicy(policy), writeAt: 'start' });
      const b = simulate(back, { policy: createPolicy(policy), writeAt: 'start' });
      expect(b.overall.readTokens).toBe(a.overall.readTokens);
      expect(b.overall.inputTokens).toBe(a.overall.inputTokens);
    }
  });

  it('real JSONL session → kv-cache-tester → import: same ideal/ttl simulation', async () => {
    const reqs = await blocksOf(join(ACA, 'jsonl'));
    const [file] = exportBlocks('kv-cache-tester', reqs, join(dir, 'jsonl-kv'), 'x');
    const back = await blocksOf(file!);
    expect(back.length).toBe(reqs.length);
    expect(new Set(back.map((r) => r.agentId)).size).toBe(5);
    for (const policy of ['ideal', 'ttl']) {
      const a = simulate(reqs, { policy: createPolicy(policy), prewarm: false });
      const b = simulate(back, { policy: createPolicy(policy), prewarm: false });
      expect(b.overall.readTokens).toBe(a.overall.readTokens);
      expect(b.overall.hitRate).toBe(a.overall.hitRate);
    }
  });

  it('anonymised export: remapped ids, no original agent/session ids, same simulation', async () => {
    const reqs = await blocksOf(join(ACA, 'sample_trace_with_subagent.json'));
    const anon = anonymizeBlocks(reqs as SimRequest[]);
    const text = JSON.stringify(toKvTraces(anon));
    expect(text).not.toContain('a44c06181169aa067');
    expect(text).not.toContain('02f3098e');
    expect(anon.every((r) => /^(trace|agent)-\d+$/.test(r.agentId))).toBe(true);
    const a = simulate(reqs, { policy: createPolicy('ideal') });
    const b = simulate(anon, { policy: createPolicy('ideal') });
    expect(b.overall.readTokens).toBe(a.overall.readTokens);
  });

  it('CLI: trace export --anonymize writes salted, remapped traces', () => {
    const out = join(dir, 'cli');
    const r = spawnSync(process.execPath, [TRACE_BIN, 'export', join(ACA, 'jsonl'), '--format', 'kv-cache-tester', '--out', out, '--anonymize', '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { files: string[]; requests: number; anonymized: boolean };
    expect(s.anonymized).toBe(true);
    expect(s.requests).toBe(87);
    const body = readFileSync(s.files[0]!, 'utf8');
    expect(body).not.toContain('02f3098e');
    expect(body).not.toMatch(/vllm|Thoroughly/);
    const bad = spawnSync(process.execPath, [TRACE_BIN, 'export', join(ACA, 'jsonl'), '--format', 'nope', '--out', out], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    writeFileSync(join(dir, 'garbage.json'), '{"block_size": 64, "hash_ids": [1, ');
    const corrupt = spawnSync(process.execPath, [TRACE_BIN, 'export', join(dir, 'garbage.json'), '--format', 'mooncake', '--out', out], { encoding: 'utf8' });
    expect(corrupt.status).toBe(2);
  });
});
