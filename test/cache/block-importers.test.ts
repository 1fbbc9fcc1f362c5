import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES, HAS_SHARED } from '../helpers/paths.js';
import { SOURCE_IMPORTERS, findImporter, openSource, probe } from '../../src/store/sources/index.js';
import { memoryLogger, silentLogger } from '../../src/shared/logger.js';
import { inferMooncakeBlockSize } from '../../src/store/sources/mooncake.js';

const dir = mkdtempSync(join(tmpdir(), 'trace-block-src-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
if (!HAS_SHARED) console.warn('block importer fixture tests skipped: ../shared/fixtures is absent');

const mooncake = join(dir, 'mc.jsonl');
writeFileSync(
  mooncake,
  [
    JSON.stringify({ timestamp: 0, input_length: 1100, output_length: 10, hash_ids: [1, 2, 3] }),
    'not json',
    JSON.stringify({ timestamp: 500, input_length: 1600, output_length: 20, hash_ids: [1, 2, 4, 5] }),
    JSON.stringify({ hello: 'world' }),
    '',
  ].join('\n'),
);

describe('block-level importers (kv-cache-tester, mooncake)', () => {
  it('are registered as block importers', () => {
    for (const k of ['kv-cache-tester', 'mooncake']) {
      expect(SOURCE_IMPORTERS).toContain(findImporter(k));
      expect(findImporter(k).level).toBe('block');
    }
  });

  it('mooncake: detects, infers 512-token blocks, skips malformed lines with one warning each, iterates twice', () => {
    expect(findImporter('mooncake').detect(probe(mooncake))).toBe(true);
    expect(findImporter('kv-cache-tester').detect(probe(mooncake))).toBe(false);
    const logger = memoryLogger();
    const src = openSource(mooncake, { logger });
    expect(src.kind).toBe('mooncake');
    expect(src.blockSize).toBe(512);
    const a = [...src.blocks!()];
    expect(a.map((r) => [r.t, r.inputTokens, r.hashIds.length])).toEqual([
      [0, 1100, 3],
      [0.5, 1600, 4],
    ]);
    expect(src.stats.skipped).toBe(2);
    expect(logger.lines.filter((l) => l.startsWith('warn:'))).toHaveLength(2);
    expect([...src.blocks!()].map((r) => r.id)).toEqual(a.map((r) => r.id));
    expect([...src.requests()]).toEqual([]);
  });

  it('mooncake block size inference: floor or ceil of input_length / size', () => {
    expect(inferMooncakeBlockSize([{ timestamp: 0, input_length: 200, output_length: 1, hash_ids: [1, 2, 3] }])).toBe(64);
    expect(inferMooncakeBlockSize([{ timestamp: 0, input_length: 1000, output_length: 1, hash_ids: [1, 2] }])).toBe(512);
  });

  it('kv-cache-tester: a corrupt file is a source error (exit 2), not a crash', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"block_size": 64, "hash_ids": [1, 2');
    expect(findImporter('kv-cache-tester').detect(probe(bad))).toBe(true);
    expect(() => openSource(bad, { logger: silentLogger })).toThrow(expect.objectContaining({ code: 'E_SOURCE' }));
  });

  it.skipIf(!HAS_SHARED)('do not claim content sources, and content importers do not claim block traces', () => {
    const kv = join(FIXTURES, 'agentic-coding-analysis', 'sample_trace.json');
    const jsonl = join(FIXTURES, 'agentic-coding-analysis', 'jsonl');
    expect(openSource(kv, { logger: silentLogger }).kind).toBe('kv-cache-tester');
    expect(findImporter('kv-cache-tester').detect(probe(jsonl))).toBe(false);
    expect(findImporter('mooncake').detect(probe(jsonl))).toBe(false);
    for (const imp of SOURCE_IMPORTERS.filter((i) => i.level === 'content')) {
      expect(imp.detect(probe(kv)), imp.kind).toBe(false);
      expect(imp.detect(probe(mooncake)), imp.kind).toBe(false);
    }
  });
});
