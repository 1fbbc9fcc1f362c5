import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { ROOT, TRACE_BIN } from '../helpers/paths.js';

/**
 * The committed examples stay consistent with the tools: the captured example is real Claude Code traffic
 * (not synthetic), both databases open with the trace-db importer, and `trace ci` passes against the committed
 * baselines.
 */
const EX = join(ROOT, 'examples');
const captured = join(EX, 'requests.db');
const synthetic = join(EX, 'synthetic.db');

function rows(path: string): Record<string, unknown>[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT * FROM requests ORDER BY started_at_ms, seq').all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

function ci(db: string, baseline: string): { code: number; out: string } {
  try {
    return { code: 0, out: execFileSync(process.execPath, [TRACE_BIN, 'ci', db, '--baseline', baseline, '--json'], { encoding: 'utf8' }) };
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    return { code: err.status, out: err.stdout + err.stderr };
  }
}

describe.skipIf(!existsSync(captured))('examples/requests.db (real Claude Code → trace capture → trace serve, tiny model)', () => {
  const rs = existsSync(captured) ? rows(captured) : [];

  it('was recorded by capture from the real Claude Code CLI against a local server', () => {
    const messages = rs.filter((r) => r.endpoint === '/v1/messages');
    expect(messages.length).toBeGreaterThan(0);
    for (const r of messages) {
      expect(String(r.user_agent)).toMatch(/^claude-cli\//);
      expect(String(r.upstream_url)).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
      const body = JSON.parse(String(r.body)) as { tools?: unknown[]; system?: { text: string }[]; metadata?: { user_id?: string } };
      expect(body.metadata?.user_id).toBeTruthy();
      if (body.tools && body.tools.length > 0) {
        expect(body.system?.[0]?.text).toMatch(/^x-anthropic-billing-header/);
      }
    }
    // one session: every prompt after the first used --continue
    expect(new Set(messages.map((r) => r.session_id)).size).toBe(1);
  });

  it('documents how it was made', () => {
    const readme = readFileSync(join(EX, 'README.md'), 'utf8');
    expect(readme).toMatch(/tiny random-weight/);
    expect(readme).toMatch(/example:capture/);
  });

  it.skipIf(!existsSync(join(EX, 'cache-baseline.json')))('trace ci passes against examples/cache-baseline.json', () => {
    const r = ci(captured, join(EX, 'cache-baseline.json'));
    expect(r.code, r.out).toBe(0);
    expect((JSON.parse(r.out) as { status: string }).status).toBe('ok');
  });
});

describe.skipIf(!existsSync(synthetic))('examples/synthetic.db', () => {
  it('is labelled synthetic on every row', () => {
    for (const r of rows(synthetic)) expect(String(r.user_agent)).toMatch(/^trace-synth\//);
  });

  it.skipIf(!existsSync(join(EX, 'synthetic-baseline.json')))('trace ci passes against examples/synthetic-baseline.json', () => {
    const r = ci(synthetic, join(EX, 'synthetic-baseline.json'));
    expect(r.code, r.out).toBe(0);
    const j = JSON.parse(r.out) as { status: string; checks: { regressed: boolean }[] };
    expect(j.status).toBe('ok');
    expect(j.checks.length).toBeGreaterThan(0);
    expect(j.checks.every((c) => !c.regressed)).toBe(true);
  });
});
