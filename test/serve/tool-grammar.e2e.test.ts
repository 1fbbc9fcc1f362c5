/**
 * End to end over real sockets: the real Claude Code CLI against `trace serve --engine llama --tool-grammar first`
 * with a tiny random-weight GGUF. The grammar makes the model's first reply a Read call on the one allowed path,
 * Claude Code runs the tool and sends the result back — a real tool loop driven by a random model. A small
 * recording proxy between the CLI and the server shows what the server received.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ROOT, TRACE_BIN } from '../helpers/paths.js';
import { CLAUDE_BIN as CLAUDE, offlineClaudeEnv } from '../helpers/claude-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'trace-tool-grammar-e2e-'));
const project = join(dir, 'project');
const hello = join(project, 'hello.txt');
const model = join(dir, 'tiny.gguf');
const children: ChildProcess[] = [];
let proxy: Server | undefined;

interface Seen {
  path: string;
  body: { messages?: { role: string; content: unknown }[]; tools?: unknown[] } | null;
}
const seen: Seen[] = [];

function startServe(args: string[]): Promise<{ url: string; proc: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [TRACE_BIN, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(proc);
    let all = '';
    const onData = (d: Buffer) => {
      all += d;
      const m = /listening on (http:\/\/\S+)/.exec(all);
      if (m) resolve({ url: m[1]!, proc });
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.on('exit', (code) => reject(new Error(`serve exited ${code} before listening: ${all}`)));
  });
}

/** Forwards every request to `upstream`, recording the path and JSON body; streams the response back. */
function startProxy(upstream: string): Promise<string> {
  return new Promise((resolve) => {
    proxy = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const raw = Buffer.concat(chunks);
      let body: Seen['body'] = null;
      try {
        body = raw.length > 0 ? (JSON.parse(raw.toString('utf8')) as Seen['body']) : null;
      } catch {
        body = null;
      }
      seen.push({ path: req.url ?? '', body });
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
      const up = await fetch(upstream + (req.url ?? '/'), { method: req.method, headers, ...(raw.length > 0 ? { body: raw } : {}) });
      res.writeHead(up.status, Object.fromEntries([...up.headers].filter(([k]) => k !== 'content-length' && k !== 'content-encoding')));
      if (up.body) for await (const c of up.body) res.write(c);
      res.end();
    });
    proxy.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(proxy!.address() as AddressInfo).port}`));
  });
}

function claude(baseUrl: string, prompt: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const home = mkdtempSync(join(dir, 'home-'));
    const p = spawn(CLAUDE, ['-p', prompt, '--output-format', 'stream-json', '--verbose', '--tools', 'Read', '--allowedTools', 'Read'], {
      cwd: project,
      env: {
        ...process.env,
        ...offlineClaudeEnv(baseUrl, home, 'sk-test-not-real'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(p);
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d) => (stdout += d));
    p.stderr!.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

let serveUrl = '';
beforeAll(async () => {
  if (!existsSync(CLAUDE)) return;
  mkdirSync(project);
  writeFileSync(hello, 'Hello from the tool-grammar e2e test.\n');
  writeFileSync(join(dir, 'paths.txt'), `${hello}\n`);
  execFileSync(process.execPath, [TRACE_BIN, 'model', 'tiny', '--out', model, '--context', '32768'], { cwd: dir });
  const s = await startServe([
    'serve', '--engine', 'llama', '--model', model, '--port', '0', '--ctx-size', '32768', '--threads', '2',
    // Unconstrained replies from a random model never end by themselves; the grammar-constrained Read call needs
    // ~120 tokens (byte-level vocabulary), so the cap sits above that.
    '--max-output-tokens', '200',
    '--tool-grammar', 'first', '--tool-grammar-tools', 'Read', '--tool-grammar-paths', join(dir, 'paths.txt'),
  ]);
  serveUrl = s.url;
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await new Promise<void>((r) => (proxy ? proxy.close(() => r()) : r()));
  rmSync(dir, { recursive: true, force: true });
});

it.skipIf(!existsSync(CLAUDE))('Claude Code runs a real Read tool loop against a random model under --tool-grammar first', async () => {
  const url = await startProxy(serveUrl);
  const r = await claude(url, 'Read hello.txt and tell me what it says.');
  expect(r.stderr).not.toMatch(/API Error/);
  expect(r.code, r.stderr).toBe(0);

  const messages = seen.filter((s) => s.path.startsWith('/v1/messages') && !s.path.includes('count_tokens') && (s.body?.tools?.length ?? 0) > 0);
  // The follow-up request carries the tool_result of the Read call the grammar forced.
  const followUp = messages.find((s) =>
    s.body?.messages?.some((m) => m.role === 'user' && Array.isArray(m.content) && m.content.some((b: { type?: string }) => b.type === 'tool_result')),
  );
  expect(followUp, `requests seen: ${seen.map((s) => s.path).join(', ')}`).toBeDefined();
  const msgs = followUp!.body!.messages!;
  const use = msgs.flatMap((m) => (m.role === 'assistant' && Array.isArray(m.content) ? m.content : [])).find((b: { type?: string }) => b.type === 'tool_use') as
    | { id: string; name: string; input: Record<string, unknown> }
    | undefined;
  expect(use).toMatchObject({ name: 'Read', input: { file_path: hello } });
  const result = msgs.flatMap((m) => (Array.isArray(m.content) ? m.content : [])).find((b: { type?: string }) => b.type === 'tool_result') as
    | { tool_use_id: string; content: unknown; is_error?: boolean }
    | undefined;
  expect(result?.tool_use_id).toBe(use!.id);
  expect(result?.is_error ?? false).toBe(false);
  expect(JSON.stringify(result?.content)).toContain('Hello from the tool-grammar e2e test.');

  // Claude Code's own transcript shows the tool ran and the run finished without error.
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; is_error?: boolean; num_turns?: number });
  expect(events.find((e) => e.type === 'result')).toMatchObject({ type: 'result', is_error: false });
}, 300_000);
