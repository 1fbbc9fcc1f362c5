import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CliContext } from '../../src/cli/context.js';
import { ManualClock } from '../../src/shared/clock.js';
import { silentLogger } from '../../src/shared/logger.js';
import { parseSince } from '../../src/pipelines/import.js';
import { FIXTURES, HAS_SHARED } from '../helpers/paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'trace-import-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
if (!HAS_SHARED) console.warn('trace import tests skipped: ../shared/fixtures is absent');

function ctx(): CliContext & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (t) => void out.push(t), stderr: (t) => void err.push(t), env: {}, cwd: tmp, isTTY: false, clock: new ManualClock(0), logger: silentLogger, interrupted: new AbortController().signal, onShutdown: () => {} };
}
async function run(args: string[]) {
  const c = ctx();
  const code = await main(['node', 'trace', ...args], c);
  return { code, out: c.out.join(''), err: c.err.join('') };
}

describe.skipIf(!HAS_SHARED)('trace import', () => {
  const jsonl = join(FIXTURES, 'agentic-coding-analysis', 'jsonl');
  const db = join(tmp, 'store.db');

  it('imports the shipped JSONL session, idempotently, and the DB analyses to the same API totals', async () => {
    const first = await run(['import', jsonl, '--db', db, '--json']);
    expect(first.code).toBe(0);
    const a = JSON.parse(first.out) as { rows_before: number; rows_after: number; sources: { kind: string; read: number; inserted: number; existing: number }[] };
    expect(a.rows_before).toBe(0);
    expect(a.sources[0]!.kind).toBe('claude-jsonl');
    expect(a.sources[0]!.inserted).toBe(a.sources[0]!.read);
    expect(a.rows_after).toBe(a.sources[0]!.read);

    const second = await run(['import', jsonl, '--db', db, '--json']);
    const b = JSON.parse(second.out) as typeof a;
    expect(b.rows_after).toBe(a.rows_after);
    expect(b.sources[0]!.inserted).toBe(0);
    expect(b.sources[0]!.existing).toBe(a.sources[0]!.read);

    const raw = new Database(db, { readonly: true });
    const origins = raw.prepare('SELECT origin, count(*) AS n FROM requests GROUP BY origin').all();
    const n = (raw.prepare('SELECT count(*) AS n FROM requests').get() as { n: number }).n;
    raw.close();
    expect(origins).toEqual([{ origin: 'import:claude-jsonl', n: a.rows_after }]);
    expect(n).toBe(a.rows_after);

    const direct = JSON.parse((await run(['analyze', jsonl, '--json', '--tokenizer', 'chars4'])).out) as { tokens: Record<string, number>; totals: { requests: number } };
    const stored = JSON.parse((await run(['analyze', db, '--json', '--tokenizer', 'chars4'])).out) as typeof direct;
    expect(stored.totals.requests).toBe(direct.totals.requests);
    expect(stored.tokens).toEqual(direct.tokens);
  });

  it('--since skips older requests (counted), and a block-level source is refused', async () => {
    const r = await run(['import', jsonl, '--db', join(tmp, 'since.db'), '--since', '2100-01-01', '--json']);
    const j = JSON.parse(r.out) as { rows_after: number; sources: { read: number; older: number }[] };
    expect(j.rows_after).toBe(0);
    expect(j.sources[0]!.older).toBe(j.sources[0]!.read);
    const kv = await run(['import', join(FIXTURES, 'agentic-coding-analysis', 'sample_trace.json'), '--db', join(tmp, 'kv.db')]);
    expect(kv.code).toBe(2);
    expect(kv.err).toMatch(/block-level source/);
  });

  it('parses --since as an ISO date or a duration', () => {
    expect(parseSince('2d', 10 * 8.64e7)).toBe(8 * 8.64e7);
    expect(parseSince('2026-01-01T00:00:00Z', 0)).toBe(Date.UTC(2026, 0, 1));
    expect(() => parseSince('soon', 0)).toThrow(/--since/);
  });
});
