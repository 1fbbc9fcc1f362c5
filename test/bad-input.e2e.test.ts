/**
 * Issue 15: one battery of bad input fed to every read command. Each run must end within 30 s with a documented
 * exit code (0 = ran, bad records skipped and counted; 1 = the command's result is a failure, e.g. no replay
 * request succeeded; 2 = bad input), a one-line message when it fails, and never a stack trace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { FIXTURES, HAS_SHARED, ROOT, TRACE_BIN } from './helpers/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'trace-bad-input-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const EXAMPLE = join(ROOT, 'examples', 'requests.db');

/** A copy of the example DB with extra rows derived from one real row (its body replaced / its state changed). */
function exampleWith(name: string, rows: (base: Record<string, unknown>, body: Record<string, unknown>) => Record<string, unknown>[]): string {
  const path = join(dir, `${name}.db`);
  copyFileSync(EXAMPLE, path);
  const db = new Database(path);
  const base = db.prepare("SELECT * FROM requests WHERE endpoint LIKE '%/v1/messages%' AND sse_events IS NOT NULL ORDER BY started_at_ms LIMIT 1").get() as Record<string, unknown>;
  const body = JSON.parse(Buffer.isBuffer(base.body) ? base.body.toString('utf8') : String(base.body)) as Record<string, unknown>;
  const cols = Object.keys(base);
  const ins = db.prepare(`INSERT INTO requests (${cols.join(',')}) VALUES (${cols.map((c) => '@' + c).join(',')})`);
  let seq = 1_000_000;
  for (const r of rows(base, body)) ins.run({ ...base, seq: seq++, message_id: null, ...r });
  db.close();
  return path;
}

function sse(text: string): string {
  const ev = (i: number, type: string, data: unknown) => [i, type, JSON.stringify(data)];
  return JSON.stringify([
    ev(0, 'message_start', { type: 'message_start', message: { id: 'msg_big', type: 'message', role: 'assistant', model: 'm', content: [], stop_reason: null, usage: { input_tokens: 5, output_tokens: 1 } } }),
    ev(1, 'content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    ev(2, 'content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }),
    ev(3, 'content_block_stop', { type: 'content_block_stop', index: 0 }),
    ev(4, 'message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 9 } }),
    ev(5, 'message_stop', { type: 'message_stop' }),
  ]);
}

interface Case {
  name: string;
  path: string;
  /** Exit codes this input may legitimately give (documented: 0 ok, 1 failure/regression, 2 bad input). */
  codes: number[];
  /** A content-level source (show/report/replay apply). */
  content: boolean;
  /** Malformed records the source must report as skipped (analyze --json). */
  skipped?: number;
}
const cases: Case[] = [];

beforeAll(() => {
  // Truncated DB: the first half of the example.
  const truncated = join(dir, 'truncated.db');
  copyFileSync(EXAMPLE, truncated);
  truncateSync(truncated, Math.floor(statSync(truncated).size / 2));
  cases.push({ name: 'truncated DB', path: truncated, codes: [2], content: true });

  const unrelated = join(dir, 'unrelated.db');
  const u = new Database(unrelated);
  u.exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices (total) VALUES (9.5);");
  u.close();
  cases.push({ name: 'unrelated-schema SQLite', path: unrelated, codes: [2], content: true });

  const shapes = exampleWith('bad-shapes', (_b, body) => [
    { id: 'bad-messages-string', body: JSON.stringify({ ...body, messages: 'hi' }) },
    { id: 'bad-messages-number', body: JSON.stringify({ ...body, messages: 42 }) },
    { id: 'bad-messages-null', body: JSON.stringify({ ...body, messages: null }) },
  ]);
  cases.push({ name: 'rows with messages string / number / null', path: shapes, codes: [0, 1], content: true, skipped: 3 });

  const pending = exampleWith('pending', () => [
    { id: 'pending-1', state: 'pending', duration_ms: null, sse_events: null, response: null, status: null, input_tokens: null, output_tokens: null, cache_read_input_tokens: null, cache_creation_input_tokens: null, stop_reason: null },
  ]);
  cases.push({ name: 'pending rows', path: pending, codes: [0, 1], content: true, skipped: 0 });

  const bigBody = exampleWith('big-body', (_b, body) => [{ id: 'one-char-body', body: JSON.stringify({ ...body, messages: [{ role: 'user', content: 'A'.repeat(1 << 20) }] }) }]);
  cases.push({ name: 'body of 1 MB of one character', path: bigBody, codes: [0, 1], content: true, skipped: 0 });

  const bigResponse = exampleWith('big-response', () => [{ id: 'ten-mb-response', sse_events: sse('The quick brown fox jumps over the lazy dog. '.repeat((10 << 20) / 45)) }]);
  cases.push({ name: '10 MB response', path: bigResponse, codes: [0, 1], content: true, skipped: 0 });

  if (HAS_SHARED) {
    const kv = JSON.parse(readFileSync(join(FIXTURES, 'agentic-coding-analysis', 'sample_trace.json'), 'utf8')) as { requests: Record<string, unknown>[] };
    delete kv.requests[1]!.in;
    const kvPath = join(dir, 'kv-no-in.json');
    writeFileSync(kvPath, JSON.stringify(kv));
    cases.push({ name: 'kv-cache-tester request without `in`', path: kvPath, codes: [0, 1, 2], content: false });
  }
});

/** Runs the CLI; asserts the battery's invariants and returns the result. */
function run(args: string[], codes: number[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [TRACE_BIN, ...args], { encoding: 'utf8', timeout: 30_000, maxBuffer: 256 << 20, env: { ...process.env, TRACE_DEBUG: '' } });
  const what = `trace ${args.join(' ')}\nstatus ${r.status} signal ${r.signal}\n${r.stderr.slice(-2000)}`;
  expect(r.signal, what).toBeNull(); // finished within 30 s
  expect(codes, what).toContain(r.status);
  expect(r.stderr, what).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/); // no stack trace
  expect(r.stderr, what).not.toMatch(/TypeError|RangeError|unreachable/);
  if (r.status !== 0) {
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('warning:'));
    expect(lines.length, what).toBeGreaterThan(0);
    expect(lines.at(-1), what).toMatch(/^(trace: |error: |trace ci: )/);
  }
  return { status: r.status!, stdout: r.stdout, stderr: r.stderr };
}

const COMMANDS: { name: string; content: boolean; args: (c: Case, out: string) => string[] }[] = [
  { name: 'analyze', content: true, args: (c) => ['analyze', c.path, '--json', '--no-store-index'] },
  { name: 'list', content: true, args: (c) => ['list', c.path, '--json', '--no-store-index'] },
  { name: 'show', content: true, args: (c) => ['show', c.path, 'bad-messages-null', '--json'] },
  { name: 'simulate', content: false, args: (c) => ['simulate', c.path, '--json'] },
  { name: 'report', content: true, args: (c, out) => ['report', c.path, '--out', join(out, 'r.html')] },
  { name: 'export', content: false, args: (c, out) => ['export', c.path, '--format', 'kv-cache-tester', '--out', out] },
  { name: 'ci', content: false, args: (c) => ['ci', c.path, '--baseline', join(ROOT, 'examples', 'cache-baseline.json')] },
  {
    name: 'replay',
    content: true,
    args: (c, out) => ['replay', c.path, '--endpoint', 'http://127.0.0.1:9', '--model', 'm', '--speed', '100000', '--out', join(out, 'replay'), '--json'],
  },
];

describe('bad-input battery: every read command, the same inputs', () => {
  for (const cmd of COMMANDS) {
    it(`${cmd.name}`, () => {
      for (const c of cases) {
        const out = join(dir, `${cmd.name}-${c.name.replace(/\W+/g, '-')}`);
        mkdirSync(out, { recursive: true });
        // `show` of a request that is not there, a block-level source for content commands, a baseline that moved
        // (ci) or no successful replay request are each a failure with their documented code.
        const codes = [...new Set([...c.codes, ...(c.codes.includes(0) ? [1, 2] : [])])];
        const r = run(cmd.args(c, out), codes);
        const last = r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('warning:')).at(-1) ?? '';
        console.info(`bad-input: ${cmd.name} × ${c.name}: exit ${r.status}${r.status ? ` — ${last.slice(0, 160)}` : ''}`);
        if (cmd.name === 'analyze' && c.skipped !== undefined) {
          expect(r.status, c.name).toBe(0);
          expect((JSON.parse(r.stdout) as { skipped: number }).skipped, c.name).toBe(c.skipped);
        }
      }
    });
  }

  it('analyze counts pending rows as errors and `messages: null` makes no phantom conversation', () => {
    const pending = cases.find((c) => c.name === 'pending rows')!;
    const base = JSON.parse(run(['analyze', EXAMPLE, '--json', '--no-store-index', '--tokenizer', 'chars4'], [0]).stdout) as { totals: { errors: number; conversations: number } };
    const p = JSON.parse(run(['analyze', pending.path, '--json', '--no-store-index', '--tokenizer', 'chars4'], [0]).stdout) as { totals: { errors: number } };
    expect(p.totals.errors).toBe(base.totals.errors + 1);
    const shapes = cases.find((c) => c.name.startsWith('rows with messages'))!;
    const s = JSON.parse(run(['analyze', shapes.path, '--json', '--no-store-index', '--tokenizer', 'chars4'], [0]).stdout) as { totals: { conversations: number } };
    expect(s.totals.conversations).toBe(base.totals.conversations);
  });

  it('compare refuses or counts a corrupt result file', () => {
    const out = join(dir, 'compare');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'run-1.json'), '{"model": "m", "requests": [');
    run(['compare', out, '--json'], [0, 1, 2]);
  });
});
