/**
 * Done-when: a requests.db captured from the REAL Claude Code CLI (through `trace capture` to a fake upstream),
 * replayed with `trace replay` against `trace serve --engine llama` running a tiny GGUF (`trace model tiny`):
 * every request succeeds and the server-reported cache hit rate matches the simulation's expectation within
 * 1 percentage point. Every piece runs as a real process over real sockets. The CLI runs with --tools Read and a
 * ~10 KB --system-prompt so prompts stay small (about a minute on a busy 2-core machine). Skipped, with the
 * reason, when a piece is missing or with TRACE_E2E_LLAMA=0.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, TRACE_BIN } from '../helpers/paths.js';
import { createFakeAnthropic, defaultScript, lastToolResultText, textReply, toolUseReply, type FakeAnthropic } from '../helpers/fake-anthropic.js';
import { CLAUDE_BIN as CLAUDE, offlineClaudeEnv, runClaude, makeClaudeProject } from '../helpers/claude-cli.js';

const run = promisify(execFile);
const LLAMA = existsSync(join(ROOT, 'node_modules', 'node-llama-cpp'));
const SERVE = existsSync(join(ROOT, 'src', 'cli', 'commands', 'serve.ts'));
const OPT_OUT = process.env.TRACE_E2E_LLAMA === '0';
const reason = !existsSync(CLAUDE)
  ? 'real Claude Code CLI missing'
  : !LLAMA || !SERVE
    ? 'trace serve --engine llama missing'
    : OPT_OUT
      ? 'TRACE_E2E_LLAMA=0'
      : null;

/** Spawns `node bin/trace.js <args>` and resolves once it prints `listening on URL`. */
async function spawnListening(args: string[], timeoutMs: number): Promise<{ url: string; proc: ChildProcess; stop: () => Promise<void>; log: () => string }> {
  const proc = spawn(process.execPath, [TRACE_BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${args[0]} did not start: ${log}`)), timeoutMs);
    const on = (d: Buffer) => {
      log += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(log);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    };
    proc.stdout!.on('data', on);
    proc.stderr!.on('data', on);
    void exited.then(() => reject(new Error(`${args[0]} exited early: ${log}`)));
  });
  return {
    url,
    proc,
    log: () => log,
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
    },
  };
}


describe.skipIf(reason !== null)(`replay of a real Claude Code capture against trace serve --engine llama${reason ? ` (skipped: ${reason})` : ''}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'trace-replay-llama-'));
  let fake: FakeAnthropic | undefined;
  const procs: { stop: () => Promise<void> }[] = [];
  afterAll(async () => {
    for (const p of procs) await p.stop();
    await fake?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every request succeeds; server cache hit rate = simulated within 1 pp', async () => {
    // 1. capture: real CLI → trace capture → fake upstream driving one Read-tool loop
    const { project, home, hello } = makeClaudeProject(dir);
    const isMain = (b: any) => Array.isArray(b?.tools) && b.tools.some((t: any) => t?.name === 'Read');
    fake = createFakeAnthropic({
      script: (body, i, seen) => {
        if (!isMain(body)) return defaultScript(body, i, seen);
        const r = lastToolResultText(body);
        return r === undefined ? toolUseReply('Read', { file_path: hello }, { text: 'Reading.' }) : textReply(`It says: ${r}`);
      },
    });
    await fake.listen();
    const db = join(dir, 'requests.db');
    const cap = await spawnListening(['capture', '--port', '0', '--upstream', fake.url, '--db', db], 30_000);
    procs.push(cap);
    // --tools/--system-prompt keep the prompts ~10 KB instead of ~75 KB so CPU prefill stays short, yet large
    // enough that the chat template's few hundred bytes of framing do not dominate the hit rate.
    const rules = Array.from({ length: 120 }, (_, i) => `Rule ${i + 1}: keep answers short, cite the file you read, and never guess the contents of file number ${i}.`).join('\n');
    const system = `You are a terse test agent. Use the Read tool when asked to read a file.\n${rules}`;
    const { code } = await runClaude(['-p', 'Read the file hello.txt', '--tools', 'Read', '--allowedTools', 'Read', '--system-prompt', system, '--output-format', 'stream-json', '--verbose'], project, {
      ...offlineClaudeEnv(cap.url, home, 'sk-ant-fake'),
    }, 180_000);
    expect(code).toBe(0);
    await cap.stop();

    // 2. serve: tiny byte-level GGUF; token-granular prompt cache
    const model = join(dir, 'tiny.gguf');
    await run(process.execPath, [TRACE_BIN, 'model', 'tiny', '--out', model, '--layers', '1', '--dim', '16', '--context', '131072']);
    const srv = await spawnListening(['serve', '--engine', 'llama', '--model', model, '--port', '0', '--ctx-size', '131072', '--slots', '2', '--max-output-tokens', '4'], 120_000);
    procs.push(srv);

    // 3. replay (closed loop, no think waits) and compare with the simulation at the server's granularity: its
    //    prompt cache is token-granular, so the simulation runs with block size 1 (in the analysis tokenizer).
    const out = join(dir, 'replays');
    const r = await run(process.execPath, [TRACE_BIN, 'replay', db, '--endpoint', srv.url, '--api', 'anthropic', '--model', 'tiny', '--timing', 'fast', '--max-tokens', '4', '--max-concurrency', '1', '--block-size', '1', '--out', out, '--json'], { maxBuffer: 64 << 20 });
    const res = JSON.parse(r.stdout) as { summary: any; file: string };
    const detail = (JSON.parse(readFileSync(res.file, 'utf8')).requests as any[]).map((q) => ({
      id: q.id, ok: q.ok, error: q.error, prompt: q.prompt_tokens, cached: q.cached_tokens, expected: q.expected_cached_tokens, expectedPrompt: q.expected_prompt_tokens,
    }));
    expect(res.summary.requests.failed).toBe(0);
    expect(res.summary.requests.ok).toBe(res.summary.requests.total);
    expect(res.summary.requests.total).toBeGreaterThanOrEqual(2);
    const server = res.summary.cache.server_hit_rate as number;
    const expected = res.summary.cache.expected_hit_rate as number;
    console.info(`llama replay: server hit rate ${(server * 100).toFixed(2)} %, simulated ${(expected * 100).toFixed(2)} %`, JSON.stringify(detail));
    expect(server).toBeGreaterThan(0.2); // the tool-result turn reuses the first turn's prompt
    expect(Math.abs(server - expected), JSON.stringify({ server, expected, detail })).toBeLessThanOrEqual(0.01);
  }, 900_000);
});
