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
    expect(readme).toMatch(/grammar-forced/);
    expect(readme).toMatch(/--tool-grammar first --tool-grammar-tools Read,Agent/);
  });

  type Block = { type?: string; id?: string; name?: string; input?: Record<string, unknown>; tool_use_id?: string; content?: unknown; is_error?: boolean };
  type Body = { tools?: { name: string }[]; system?: { text: string }[]; messages?: { role: string; content: string | Block[] }[] };
  const bodies = rs.filter((r) => r.endpoint === '/v1/messages').map((r) => JSON.parse(String(r.body)) as Body);
  const blocks = bodies.flatMap((b) => (b.messages ?? []).flatMap((m) => (Array.isArray(m.content) ? m.content : [])));
  const uses = new Map(blocks.filter((b) => b.type === 'tool_use' && b.id).map((b) => [b.id!, b]));
  const results = blocks.filter((b) => b.type === 'tool_result' && b.tool_use_id && uses.has(b.tool_use_id));

  it('contains a real Read tool loop: a tool_use answered by a tool_result holding the file text', () => {
    const reads = results.filter((r) => uses.get(r.tool_use_id!)!.name === 'Read');
    expect(reads.length).toBeGreaterThan(0);
    for (const r of reads) {
      const use = uses.get(r.tool_use_id!)!;
      const path = String(use.input?.file_path);
      expect(path).toMatch(/\/sample-repo\/(package\.json|README\.md|src\/math\.ts|src\/greet\.ts|test\/math\.test\.ts)$/);
      expect(r.is_error ?? false).toBe(false);
      // Claude Code's Read output is the file with line numbers; every sample file's first line is known.
      const firstLine = { 'package.json': '{', 'README.md': '# sample-math', 'math.ts': 'export function add', 'greet.ts': 'export function greet', 'math.test.ts': 'import { add, multiply }' }[path.split('/').pop()!]!;
      expect(JSON.stringify(r.content)).toContain(firstLine);
    }
  });

  it('contains an Agent call that spawned a real sub-agent (own system prompt, fewer tools, same session)', () => {
    const agentCalls = [...uses.values()].filter((u) => u.name === 'Agent');
    expect(agentCalls.length).toBeGreaterThan(0);
    expect(results.some((r) => uses.get(r.tool_use_id!)!.name === 'Agent')).toBe(true);
    const mainTools = Math.max(...bodies.map((b) => b.tools?.length ?? 0));
    const main = bodies.find((b) => b.tools?.length === mainTools)!;
    const subs = bodies.filter((b) => (b.tools?.length ?? 0) > 0 && b.tools!.length < mainTools);
    expect(subs.length).toBeGreaterThan(0);
    for (const s of subs) expect(JSON.stringify(s.system?.slice(1))).not.toBe(JSON.stringify(main.system?.slice(1)));
    // the sub-agent's first user message is the (random) prompt the forced Agent call carried
    const prompts = new Set(agentCalls.map((u) => String(u.input?.prompt)));
    expect(subs.some((s) => (s.messages ?? []).some((m) => m.role === 'user' && JSON.stringify(m.content).includes(JSON.stringify([...prompts][0]!).slice(1, -1))))).toBe(true);
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
