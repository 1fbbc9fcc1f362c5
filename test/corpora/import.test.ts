import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CliContext } from '../../src/cli/context.js';
import { ManualClock } from '../../src/shared/clock.js';
import { silentLogger } from '../../src/shared/logger.js';
import { parseSince } from '../../src/pipelines/import.js';
import { FIXTURES, HAS_SHARED, ROOT } from '../helpers/paths.js';
import { decodeBody, decompressSegment } from '../../src/store/body-codec.js';
import type { TraceRequest } from '../../src/shared/trace-record.js';
import { readSource } from '../store/sources-fixtures.js';

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


describe('trace import: compact bodies', () => {
  it('stores bodies compact by default (--raw-bodies opts out): same analysis, smaller file, every body byte-exact', async () => {
    const example = join(ROOT, 'examples', 'requests.db');
    const compactDb = join(tmp, 'compact.db');
    const rawDb = join(tmp, 'raw.db');
    const c = JSON.parse((await run(['import', example, '--db', compactDb, '--json'])).out) as { rows_after: number; compact_bodies: boolean };
    const r = JSON.parse((await run(['import', example, '--db', rawDb, '--raw-bodies', '--json'])).out) as typeof c;
    expect(c.compact_bodies).toBe(true);
    expect(r.compact_bodies).toBe(false);
    expect(c.rows_after).toBe(r.rows_after);

    const rawRows = new Database(rawDb, { readonly: true });
    const bodies = new Map((rawRows.prepare('SELECT id, body, body_skeleton FROM requests').all() as { id: string; body: string; body_skeleton: Buffer | null }[]).map((x) => [x.id, x]));
    rawRows.close();
    const withBody = [...bodies.values()].filter((x) => x.body !== '');
    expect(withBody.length).toBeGreaterThan(30);
    expect([...bodies.values()].every((x) => x.body_skeleton === null)).toBe(true);

    const cdb = new Database(compactDb, { readonly: true });
    const segs = cdb.prepare('SELECT data FROM body_segments WHERE id = ?');
    const get = (id: string) => { const s = segs.get(id) as { data: Buffer } | undefined; return s && decompressSegment(s.data); };
    const stored = cdb.prepare('SELECT id, body, body_skeleton FROM requests').all() as { id: string; body: string; body_skeleton: Buffer | null }[];
    expect(stored.length).toBe(bodies.size);
    let compared = 0;
    for (const s of stored) {
      const original = bodies.get(s.id)!.body;
      expect(s.body).toBe('');
      if (original === '') continue;
      expect(s.body_skeleton).not.toBeNull();
      expect(decodeBody(s.body_skeleton!, get).equals(Buffer.from(original, 'utf8'))).toBe(true);
      compared++;
    }
    cdb.close();
    expect(compared).toBe(withBody.length);

    expect(statSync(compactDb).size).toBeLessThan(statSync(rawDb).size / 4);
    expect(await readSource(compactDb)).toEqual(await readSource(rawDb));
    const a = JSON.parse((await run(['analyze', compactDb, '--json', '--tokenizer', 'chars4'])).out) as { tokens: Record<string, number>; totals: Record<string, unknown> };
    const b = JSON.parse((await run(['analyze', rawDb, '--json', '--tokenizer', 'chars4'])).out) as typeof a;
    expect(a.totals).toEqual(b.totals);
    expect(a.tokens).toEqual(b.tokens);
  });
});

describe('trace export --format claude-code-proxy', () => {
  it('exports a compact store as a claude-code-proxy requests table with raw bodies that reads back as the same requests', async () => {
    const compactDb = join(tmp, 'export-src.db');
    const out = join(tmp, 'export-cc.db');
    expect((await run(['import', join(ROOT, 'examples', 'requests.db'), '--db', compactDb, '--json'])).code).toBe(0);
    const e = await run(['export', compactDb, '--format', 'claude-code-proxy', '--out', out, '--json']);
    expect(e.code).toBe(0);
    const res = JSON.parse(e.out) as { requests: number; skipped: number; source_kind: string };
    expect(res.source_kind).toBe('trace-db');
    expect(res.skipped).toBe(0);

    const cc = new Database(out, { readonly: true });
    const cols = (cc.prepare('PRAGMA table_info(requests)').all() as { name: string }[]).map((c) => c.name);
    const rows = cc.prepare('SELECT id, body FROM requests').all() as { id: string; body: string }[];
    cc.close();
    expect(cols).not.toContain('body_skeleton');
    expect(cols).not.toContain('started_at_ms');
    expect(rows.length).toBe(res.requests);
    const src = new Database(compactDb, { readonly: true });
    const n = (src.prepare('SELECT count(*) AS n FROM requests').get() as { n: number }).n;
    src.close();
    expect(res.requests).toBe(n);
    expect(rows.filter((r) => r.body !== '').length).toBeGreaterThan(30);

    const pick = (r: TraceRequest) => ({ id: r.id, body: r.body, model: r.model, endpoint: r.endpoint, usage: r.usage, messageId: r.messageId, stopReason: r.stopReason, status: r.status, response: r.response });
    const back = await readSource(out);
    expect(back.map((r) => r.source)[0]).toBe('cc-proxy-db');
    expect(back.map(pick)).toEqual((await readSource(compactDb)).map(pick));
    expect((await run(['export', compactDb, '--format', 'claude-code-proxy', '--out', out])).code).toBe(2);
    const bad = await run(['export', compactDb, '--format', 'nope', '--out', out]);
    expect(bad.err).toMatch(/known: .*claude-code-proxy/);
  });
});

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
