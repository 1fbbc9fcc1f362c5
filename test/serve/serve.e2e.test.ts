import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { ROOT, TRACE_BIN } from '../helpers/paths.js';
import { CLAUDE_BIN as CLAUDE, offlineClaudeEnv } from '../helpers/claude-cli.js';

/**
 * End to end over real sockets: `trace serve --engine llama` with a tiny random-weight GGUF (`trace model tiny`),
 * driven by the official SDKs, `trace doctor`, and the real Claude Code CLI (directly and through `trace capture`).
 * The tiny model emits noise and never EOS, so the servers run with --max-output-tokens (ends the turn).
 */

const dir = mkdtempSync(join(tmpdir(), 'trace-serve-e2e-'));
const model = join(dir, 'tiny.gguf');
const children: ChildProcess[] = [];

interface Running {
  url: string;
  proc: ChildProcess;
  stop: () => Promise<string>;
}

function start(args: string[]): Promise<Running> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [TRACE_BIN, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(proc);
    let out = '';
    let err = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out + err);
      if (m) resolve({ url: m[1]!, proc, stop });
    });
    proc.stderr!.on('data', (d) => {
      err += d;
      const m = /listening on (http:\/\/\S+)/.exec(out + err);
      if (m) resolve({ url: m[1]!, proc, stop });
    });
    proc.on('exit', (code) => reject(new Error(`${args[0]} exited ${code} before listening: ${err}`)));
    const stop = () =>
      new Promise<string>((r) => {
        if (proc.exitCode !== null) return r(out);
        proc.once('exit', () => r(out));
        proc.kill('SIGINT');
      });
  });
}

function run(args: string[], env: NodeJS.ProcessEnv = {}, cmd = process.execPath): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, cmd === process.execPath ? [TRACE_BIN, ...args] : args, { cwd: join(dir, 'work'), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(p);
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d) => (stdout += d));
    p.stderr!.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function claude(baseUrl: string) {
  const home = mkdtempSync(join(dir, 'home-'));
  return run(['-p', 'Who are you?', '--output-format', 'stream-json', '--verbose', '--tools', 'Read', '--allowedTools', 'Read'], {
    ...offlineClaudeEnv(baseUrl, home, 'sk-test-not-real'),
  }, CLAUDE);
}

const SERVE = ['serve', '--engine', 'llama', '--model', model, '--port', '0', '--ctx-size', '32768', '--max-output-tokens', '12', '--threads', '2'];
let server: Running;

beforeAll(async () => {
  mkdirSync(join(dir, 'work'));
  execFileSync(process.execPath, [TRACE_BIN, 'model', 'tiny', '--out', model, '--context', '32768'], { cwd: dir });
  server = await start(SERVE);
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('trace serve --engine llama (tiny GGUF)', () => {
  it('second request sharing a ≥2,000-token prefix reads it from the KV cache (TTFT measured, not asserted)', async () => {
    const system = Array.from({ length: 42 }, (_, i) => `Line ${i}: the quick brown fox jumps over the lazy dog.`).join('\n');
    const count = async (body: unknown) =>
      ((await (await fetch(`${server.url}/v1/messages/count_tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as { input_tokens: number }).input_tokens;
    const withSys = await count({ model: 'm', system, messages: [{ role: 'user', content: 'x' }] });
    const noSys = await count({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
    const sharedPrefix = withSys - noSys; // tokens of the rendered system turn
    expect(sharedPrefix).toBeGreaterThanOrEqual(2000);

    const client = new Anthropic({ apiKey: 'x', baseURL: server.url, maxRetries: 0 });
    const timed = async (q: string) => {
      const t0 = performance.now();
      const mark: { ttft: number | null } = { ttft: null };
      const s = client.messages.stream({ model: 'tiny', max_tokens: 8, system, messages: [{ role: 'user', content: q }] });
      s.on('streamEvent', (e) => {
        if (mark.ttft === null && (e.type === 'content_block_start' || e.type === 'content_block_delta')) mark.ttft = performance.now() - t0;
      });
      const m = await s.finalMessage();
      return { m, ttft: mark.ttft };
    };
    const a = await timed('First question: what is a prefix cache?');
    const b = await timed('Second, different question about something else?');
    expect(a.m.usage.cache_creation_input_tokens).toBeGreaterThanOrEqual(sharedPrefix);
    expect(b.m.usage.cache_read_input_tokens).toBeGreaterThanOrEqual(sharedPrefix);
    expect(b.m.usage.output_tokens).toBeGreaterThan(0);
    console.log(`[measured] TTFT cold ${a.ttft?.toFixed(1)} ms, warm ${b.ttft?.toFixed(1)} ms; shared prefix ${sharedPrefix} tokens, read ${b.m.usage.cache_read_input_tokens}`);
  });

  it('OpenAI streaming through the openai SDK reports cached_tokens', async () => {
    const client = new OpenAI({ apiKey: 'x', baseURL: `${server.url}/v1`, maxRetries: 0 });
    const messages = [{ role: 'system' as const, content: 'S'.repeat(600) }, { role: 'user' as const, content: 'hi' }];
    await client.chat.completions.create({ model: 'tiny', max_tokens: 4, messages });
    const stream = await client.chat.completions.create({ model: 'tiny', max_tokens: 4, stream: true, stream_options: { include_usage: true }, messages });
    let usage: OpenAI.CompletionUsage | undefined;
    let chunks = 0;
    for await (const c of stream) {
      chunks++;
      if (c.usage) usage = c.usage;
    }
    expect(chunks).toBeGreaterThan(2);
    expect(usage!.prompt_tokens_details!.cached_tokens).toBeGreaterThanOrEqual(600);
  });

  it('trace doctor passes against it, and reports the cache point failing against --cache-bytes 0', async () => {
    const ok = await run(['doctor', '--endpoint', server.url, '--json', '--prefix-chars', '1500', '--max-tokens', '6']);
    const rep = JSON.parse(ok.stdout) as { ok: boolean; checks: { name: string; ok: boolean; detail: string }[] };
    expect(rep.checks.filter((c) => !c.ok)).toEqual([]);
    expect(rep.checks).toHaveLength(5);
    expect(ok.code).toBe(0);
    const okOpenAi = await run(['doctor', '--endpoint', server.url, '--api', 'openai', '--prefix-chars', '1500', '--max-tokens', '6']);
    expect(okOpenAi.stdout).toMatch(/^PASS cache: /m);
    expect(okOpenAi.code).toBe(0);

    const nocache = await start([...SERVE, '--cache-bytes', '0']);
    try {
      const bad = await run(['doctor', '--endpoint', nocache.url, '--prefix-chars', '1500', '--max-tokens', '6']);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/^FAIL cache: cache-1 created no cache/m);
      for (const point of ['tool-round-trip', 'stream-format', 'usage', 'ttft']) expect(bad.stdout).toMatch(new RegExp(`^PASS ${point}: `, 'm'));
    } finally {
      await nocache.stop();
    }
  }, 300_000);

  it.skipIf(!existsSync(CLAUDE))('the real Claude Code CLI runs headless against it and exits 0', async () => {
    const r = await claude(server.url);
    expect(r.stderr).not.toMatch(/API Error/);
    expect(r.code).toBe(0);
    const result = r.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.type === 'result');
    expect(result).toMatchObject({ type: 'result', is_error: false });
  }, 300_000);

  it.skipIf(!existsSync(CLAUDE) || !existsSync(join(ROOT, 'src/cli/commands/capture.ts')))('… and through trace capture, which records the requests', async () => {
    const cap = await start(['capture', '--upstream', server.url, '--port', '0', '--db', join(dir, 'requests.db'), '--json']);
    const r = await claude(cap.url);
    expect(r.code).toBe(0);
    const summary = JSON.parse(await cap.stop()) as { requests: number; errors: number };
    expect(summary.requests).toBeGreaterThanOrEqual(1);
    expect(summary.errors).toBe(0);
  }, 300_000);
});
