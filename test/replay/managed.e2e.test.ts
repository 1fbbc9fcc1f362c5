/**
 * Done-when of issue 11, end to end with real processes: a requests.db captured from the REAL Claude Code CLI
 * (through `trace capture` to a fake upstream; a reduced ~3 KB system prompt and --tools Read so CPU prefill with
 * byte-level tiny models stays short — the full ~76k-token prompt takes minutes on CPU) is replayed by ONE
 * `trace replay` command against two models written by `trace model tiny` (2×64 and 4×256), each on its own
 * managed `trace serve` child process, with --repeat 2; `trace compare` ranks the smaller model faster on TTFT
 * with the spread shown, and no server pid survives. Then: cache-bust (repeat 2's server hit rate = repeat 1's
 * within 1 pp; without it, it rises), --users 1,4 (curve + capacity level), fail-fast on a short trained
 * context (exit 2, nothing started) and Ctrl-C (interrupted result, server gone).
 * Skipped, with the reason, when a piece is missing or with TRACE_E2E_LLAMA=0.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, TRACE_BIN } from '../helpers/paths.js';
import { createFakeAnthropic, defaultScript, lastToolResultText, textReply, toolUseReply, type FakeAnthropic } from '../helpers/fake-anthropic.js';
import { CLAUDE_BIN, offlineClaudeEnv, runClaude, makeClaudeProject } from '../helpers/claude-cli.js';
import { isAlive as alive } from '../helpers/process.js';

const run = promisify(execFile);
const LLAMA = existsSync(join(ROOT, 'node_modules', 'node-llama-cpp'));
const reason = !existsSync(CLAUDE_BIN) ? 'real Claude Code CLI missing' : !LLAMA ? 'node-llama-cpp missing' : process.env.TRACE_E2E_LLAMA === '0' ? 'TRACE_E2E_LLAMA=0' : null;


async function trace(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [TRACE_BIN, ...args], { maxBuffer: 64 << 20 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/** Captures one real Claude Code CLI session (Read-tool loop) into `db` through `trace capture`. */
async function captureRealSession(dir: string, db: string): Promise<void> {
  const { project, home, hello } = makeClaudeProject(dir);
  const isMain = (b: any) => Array.isArray(b?.tools) && b.tools.some((t: any) => t?.name === 'Read');
  const fake: FakeAnthropic = createFakeAnthropic({
    script: (body, i, seen) => {
      if (!isMain(body)) return defaultScript(body, i, seen);
      const r = lastToolResultText(body);
      return r === undefined ? toolUseReply('Read', { file_path: hello }, { text: 'Reading.' }) : textReply(`It says: ${r}`);
    },
  });
  await fake.listen();
  const cap = spawn(process.execPath, [TRACE_BIN, 'capture', '--port', '0', '--upstream', fake.url, '--db', db], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let log = '';
      const on = (d: Buffer) => {
        log += d.toString();
        const m = /listening on (http:\/\/\S+)/.exec(log);
        if (m) resolve(m[1]!);
      };
      cap.stdout!.on('data', on);
      cap.stderr!.on('data', on);
      cap.once('exit', () => reject(new Error(`capture exited: ${log}`)));
    });
    const rules = Array.from({ length: 30 }, (_, i) => `Rule ${i + 1}: keep answers short and cite the file you read.`).join('\n');
    const { code } = await runClaude(['-p', 'Read the file hello.txt', '--tools', 'Read', '--allowedTools', 'Read', '--system-prompt', `You are a terse test agent.\n${rules}`, '--output-format', 'stream-json', '--verbose'], project, offlineClaudeEnv(url, home), 180_000);
    expect(code).toBe(0);
  } finally {
    const gone = new Promise((r) => cap.once('exit', r));
    cap.kill('SIGTERM');
    await gone;
    await fake.close();
  }
}

describe.skipIf(reason !== null)(`managed replay of a real Claude Code capture on tiny models${reason ? ` (skipped: ${reason})` : ''}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'trace-managed-e2e-'));
  const db = join(dir, 'requests.db');
  const small = join(dir, 'small-2x64.gguf');
  const big = join(dir, 'big-4x256.gguf');
  const common = ['--timing', 'fast', '--max-tokens', '4', '--max-concurrency', '1', '--slots', '1', '--threads', '1'];
  beforeAll(async () => {
    await captureRealSession(dir, db);
    await run(process.execPath, [TRACE_BIN, 'model', 'tiny', '--out', small, '--layers', '2', '--dim', '64', '--context', '32768']);
    await run(process.execPath, [TRACE_BIN, 'model', 'tiny', '--out', big, '--layers', '4', '--dim', '256', '--context', '32768']);
  }, 600_000); // the real CLI is slow to start when other e2e tests load the machine
  // TRACE_E2E_KEEP=1 keeps the capture and models (e.g. to rerun the README example by hand)
  afterAll(() => (process.env.TRACE_E2E_KEEP === '1' ? console.info(`kept ${dir}`) : rmSync(dir, { recursive: true, force: true })));

  it('one command, two models, --repeat 2 --cache-bust: compare ranks the smaller faster on TTFT with the spread; no server left', async () => {
    const out = join(dir, 'two');
    const r = await trace(['replay', db, '--model', small, '--model', big, '--repeat', '2', '--cache-bust', ...common, '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.runs).toHaveLength(4);
    expect(j.runs.every((x: any) => x.summary.requests.failed === 0 && x.validity.valid)).toBe(true);
    expect(j.servers.map((s: any) => s.model)).toEqual([small, big]);
    for (const s of j.servers) expect(alive(s.pid)).toBe(false);
    expect(j.runs[0].config.server).toMatchObject({ engine: 'llama', ctx_source: 'trace', slots: 1, threads: 1 });
    expect(readdirSync(out).filter((f) => f.endsWith('.server.log'))).toHaveLength(2);
    const c = JSON.parse((await trace(['compare', out, '--json'])).stdout);
    expect(c.groups.map((g: any) => [g.model, g.rank, g.valid_runs])).toEqual([['small-2x64', 1, 2], ['big-4x256', 2, 2]]);
    const sm = c.groups[0].metrics.ttft_p50_ms;
    expect(sm.n).toBe(2);
    expect(sm.min).toBeLessThanOrEqual(sm.median);
    expect(sm.max).toBeGreaterThanOrEqual(sm.median);
    expect(c.winners.find((w: any) => w.metric === 'ttft_p50_ms')).toMatchObject({ winner: 'small-2x64', runner_up: 'big-4x256', spread_known: true });
    const html = join(dir, 'compare.html');
    expect((await trace(['compare', out, '--html', html])).code).toBe(0);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('TTFT per turn vs context length');
    expect(page).toMatch(/small-2x64 <small>|small-2x64<\/td>/);
    const text = (await trace(['compare', out])).stdout;
    console.info(text);
    expect(text).toMatch(/small-2x64 .*\[.*–.*\]/);
  }, 600_000);

  it('cache-bust: repeat 2 hits the server cache like repeat 1 (within 1 pp); without it, repeat 2 hits more', async () => {
    const busted = JSON.parse((await trace(['replay', db, '--model', small, '--repeat', '2', '--cache-bust', ...common, '--out', join(dir, 'bust'), '--json'])).stdout);
    const [b1, b2] = busted.runs.map((x: any) => x.summary.cache.server_hit_rate as number);
    expect(busted.runs[0].config.warmup).toBe('prefix');
    expect(busted.runs[0].config.cache_bust).not.toBe(busted.runs[1].config.cache_bust);
    const plain = JSON.parse((await trace(['replay', db, '--model', small, '--repeat', '2', ...common, '--out', join(dir, 'plain'), '--json'])).stdout);
    const [p1, p2] = plain.runs.map((x: any) => x.summary.cache.server_hit_rate as number);
    console.info(`cache-bust hit rates: ${b1} → ${b2}; without: ${p1} → ${p2}`);
    expect(Math.abs(b2 - b1)).toBeLessThanOrEqual(0.01);
    expect(p2 - p1).toBeGreaterThan(0.01);
  }, 600_000);

  it('--users 1,4 reports a curve and a capacity level', async () => {
    const r = await trace(['replay', db, '--model', small, '--users', '1,4', '--stagger', '0.1', '--slo-ttft', '120', '--timing', 'fast', '--max-tokens', '4', '--slots', '2', '--out', join(dir, 'users'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.capacity).toHaveLength(1);
    const c = j.capacity[0];
    expect(c.levels.map((l: any) => l.users)).toEqual([1, 4]);
    expect(c.levels.every((l: any) => l.ttft_p90_ms > 0 && l.output_tok_s > 0)).toBe(true);
    expect([1, 4]).toContain(c.capacity_users);
    expect(j.runs[1].summary.requests.total).toBe(4 * j.runs[0].summary.requests.total);
  }, 600_000);

  it('a model whose trained context cannot hold the trace fails before anything starts: one line, exit 2', async () => {
    const short = join(dir, 'short.gguf');
    await run(process.execPath, [TRACE_BIN, 'model', 'tiny', '--out', short, '--layers', '1', '--dim', '16', '--context', '1024']);
    const out = join(dir, 'short');
    const r = await trace(['replay', db, '--model', small, '--model', short, ...common, '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/short\.gguf: trained context 1024 tokens cannot hold the trace — request \S+ needs about \d+/);
    expect(readdirSync(out).filter((f) => f.endsWith('.log') || f.endsWith('.json'))).toEqual([]);
  }, 120_000);

  it('Ctrl-C: the current run is saved as interrupted and the server process is gone', async () => {
    const out = join(dir, 'int');
    const p = spawn(process.execPath, [TRACE_BIN, 'replay', db, '--model', small, '--timing', 'think', '--speed', '0.01', '--max-tokens', '4', '--out', out, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let stdout = '';
    p.stdout!.on('data', (d) => (stdout += d));
    const pid = await new Promise<number>((resolve) => p.stderr!.on('data', (d) => {
      err += d;
      const m = /server ready .*\(pid (\d+)\)/.exec(err);
      if (m) resolve(Number(m[1]));
    }));
    await new Promise((r) => setTimeout(r, 1500));
    p.kill('SIGINT');
    const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
    expect(code, err).toBe(0);
    expect(alive(pid)).toBe(false);
    const j = JSON.parse(stdout);
    expect(j.interrupted).toBe(true);
    expect(j.runs[0].status).toBe('interrupted');
    expect(JSON.parse(readFileSync(j.runs[0].file, 'utf8')).status).toBe('interrupted');
  }, 300_000);
});
