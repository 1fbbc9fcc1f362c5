/**
 * ONE contract suite run over every content importer, each with a tiny fixture holding exactly the malformed
 * records listed (block importers — kv-cache-tester, mooncake — can be added to CASES with `level: 'block'`).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { memoryLogger } from '../../src/shared/logger.js';
import { SOURCE_IMPORTERS, findImporter, openSource, probe } from '../../src/store/sources/index.js';
import type { TraceRequest } from '../../src/shared/trace-record.js';
import { makeAnyclaudeDir, makeCcProxyDb, makeJsonlDir, makeTraceDb, tmp } from './sources-fixtures.js';

const dir = tmp('sources-contract');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Case {
  kind: string;
  path: string;
  good: number;
  skipped: number;
}
const CASES: Case[] = [
  { kind: 'trace-db', ...makeTraceDb(dir), skipped: 1 },
  { kind: 'cc-proxy-db', ...makeCcProxyDb(dir), skipped: 1 },
  { kind: 'anyclaude', ...makeAnyclaudeDir(dir), skipped: 1 },
  { kind: 'claude-jsonl', ...makeJsonlDir(dir) },
];

describe.each(CASES)('importer contract: $kind', (c) => {
  const imp = findImporter(c.kind);

  it('is registered as a content importer and detects its own fixture (auto-detection picks it)', () => {
    expect(SOURCE_IMPORTERS).toContain(imp);
    expect(imp.level).toBe('content');
    expect(imp.detect(probe(c.path))).toBe(true);
    const src = openSource(c.path, { logger: memoryLogger() });
    expect(src.kind).toBe(c.kind);
    src.close();
  });

  it('does not claim the other importers’ fixtures', () => {
    for (const other of CASES) if (other.kind !== c.kind) expect(imp.detect(probe(other.path))).toBe(false);
  });

  it('yields well-formed TraceRequests in chronological order, skipping malformed records with one warning each', () => {
    const logger = memoryLogger();
    const src = imp.open(c.path, { logger });
    const rs: TraceRequest[] = [...src.requests()];
    expect(rs).toHaveLength(c.good);
    expect(src.stats).toEqual({ skipped: c.skipped, yielded: c.good });
    expect(logger.lines.filter((l) => l.startsWith('warn:'))).toHaveLength(c.skipped);
    expect(new Set(rs.map((r) => r.id)).size).toBe(rs.length);
    for (const r of rs) {
      expect(r.source).toBe(c.kind);
      expect(r.endpoint.startsWith('/')).toBe(true);
      expect(typeof r.bodyComplete).toBe('boolean');
      if (r.body) expect(Array.isArray(r.body.messages)).toBe(true);
      if (r.usage) for (const k of ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'] as const) expect(Number.isInteger(r.usage[k])).toBe(true);
      if (r.response) expect(Array.isArray(r.response.content)).toBe(true);
    }
    const times = rs.map((r) => r.startedAtMs).filter((t): t is number => t !== null);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    src.close();
  });

  it('can be iterated twice with the same result (streaming, not consumed)', () => {
    const src = imp.open(c.path, { logger: memoryLogger() });
    const a = [...src.requests()].map((r) => r.id);
    const b = [...src.requests()].map((r) => r.id);
    expect(b).toEqual(a);
    expect(src.stats.skipped).toBe(c.skipped);
    src.close();
  });

  it('every yielded request with a response has usage and a message id', () => {
    const src = imp.open(c.path, { logger: memoryLogger() });
    for (const r of src.requests()) {
      if (!r.response) continue;
      expect(r.usage).not.toBeNull();
      expect(r.messageId).toBe(r.response.id);
    }
    src.close();
  });
});
