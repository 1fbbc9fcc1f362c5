import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen, type Listening } from '../../src/capture/listen.js';
import { createFakeAnthropic, textReply, type FakeAnthropic } from '../helpers/fake-anthropic.js';
import { FIXTURES, HAS_SHARED, TRACE_BIN } from '../helpers/paths.js';
import { createFakeOpenAI } from './fake-openai.js';

const run = promisify(execFile);
const TRACE = join(FIXTURES, 'agentic-coding-analysis', 'sample_trace.json');

async function trace(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [TRACE_BIN, ...args], { maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe.skipIf(!HAS_SHARED)('trace replay + trace compare (real sockets, bin/trace.js)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trace-replay-e2e-'));
  let anthropic: FakeAnthropic;
  let openai: Listening;
  let openaiSeen: ReturnType<typeof createFakeOpenAI>;

  beforeAll(async () => {
    anthropic = createFakeAnthropic({
      script: (body) => {
        const chars = JSON.stringify(body.messages).length;
        return textReply('replayed answer text', { usage: { input_tokens: Math.ceil(chars / 4), cache_read_input_tokens: 0, cache_creation_input_tokens: 0, output_tokens: 4 } });
      },
    });
    await anthropic.listen(0);
    openaiSeen = createFakeOpenAI(() => ({ type: 'text', text: 'an openai style answer', pieceSize: 3, usage: { prompt_tokens: 500, completion_tokens: 5, cached_tokens: 256 } }));
    openai = await listen(openaiSeen.handler);
  });
  afterAll(async () => {
    await anthropic?.close();
    await openai?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('replays a kv-cache-tester trace (synthetic content) against two servers and compares them in one table and one HTML page', async () => {
    const src = JSON.parse(readFileSync(TRACE, 'utf8')) as { requests: unknown[] };
    const a = await trace(['replay', TRACE, '--endpoint', anthropic.url, '--api', 'anthropic', '--model', 'model-a', '--content', 'synthetic', '--timing', 'fast', '--max-tokens', '8', '--out', dir, '--slo-ttft', '5', '--json']);
    expect(a.stderr).not.toMatch(/E_/);
    expect(a.code).toBe(0);
    const ja = JSON.parse(a.stdout);
    expect(ja.status).toBe('complete');
    expect(ja.summary.requests.ok).toBe(ja.summary.requests.total);
    expect(ja.summary.requests.total).toBeGreaterThanOrEqual(src.requests.length);
    // expected cache comes from the simulation over the trace's hash ids: a growing conversation reuses its prefix
    expect(ja.summary.cache.expected_hit_rate).toBeGreaterThan(0.5);
    // + the `--warmup load` request (default): one tiny request before the measured run
    expect(anthropic.messages()).toHaveLength(ja.summary.requests.total + 1);
    expect(anthropic.messages()[0]!.body.max_tokens).toBe(1);
    expect(ja.config.warmup).toBe('load');
    expect(anthropic.messages().slice(1).every((m) => m.body.model === 'model-a' && m.body.max_tokens === 8)).toBe(true);

    const b = await trace(['replay', TRACE, '--endpoint', openai.url, '--api', 'openai', '--model', 'model-b', '--content', 'synthetic', '--timing', 'fast', '--out', dir, '--slo-ttft', '5', '--label', 'openai fake', '--json']);
    expect(b.code).toBe(0);
    const jb = JSON.parse(b.stdout);
    expect(jb.summary.cache.server_hit_rate).toBeCloseTo(256 / 500);
    expect(openaiSeen.requests.every((r) => r.path === '/v1/chat/completions' && r.body.model === 'model-b')).toBe(true);

    const html = join(dir, 'report.html');
    const c = await trace(['compare', dir, '--json', '--html', html]);
    expect(c.code).toBe(0);
    const cmp = JSON.parse(c.stdout);
    expect(cmp.rows.map((r: { model: string }) => r.model).sort()).toEqual(['model-a', 'model-b']);
    expect(cmp.rows.every((r: { status: string; rank: number }) => r.status === 'ok' && r.rank >= 1)).toBe(true);
    expect(cmp.ranked_by).toBe('goodput_rps');
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('model-a');
    expect(page).toContain('model-b (openai fake)');
    expect(page).toContain('<svg');
    expect(page).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!www\.w3\.org)/);

    const t = await trace(['compare', dir]);
    expect(t.code).toBe(0);
    expect(t.stdout).toContain('model-a');
    expect(t.stdout).toContain('model-b');
    expect(t.stdout).toContain('TTFT p50');
  });

  it('usage errors exit 2; an unreachable endpoint fails every request (exit 1) but still writes results', async () => {
    const u = await trace(['replay', TRACE, '--endpoint', anthropic.url, '--model', 'm', '--content', 'recorded']);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/block-level trace/);
    const out = join(dir, 'down');
    const d = await trace(['replay', TRACE, '--endpoint', `http://127.0.0.1:${await deadPort()}`, '--model', 'm', '--content', 'synthetic', '--timing', 'fast', '--out', out, '--json']);
    expect(d.code).toBe(1);
    const j = JSON.parse(d.stdout);
    expect(j.summary.requests.ok).toBe(0);
    expect(readFileSync(j.file, 'utf8')).toContain('ECONNREFUSED');
    const c = await trace(['compare', out, '--json']);
    const cmp = JSON.parse(c.stdout);
    expect(cmp.rows[0].status).toBe('failed');
    expect(cmp.failed[0].reason).toMatch(/ECONNREFUSED|fetch failed/);
    // a corrupt result file is counted and named, never dropped silently (issue 15 item 4)
    writeFileSync(join(out, 'broken_result.json'), '{"schema":"trace-replay-result/1", "summ');
    const k = await trace(['compare', out, '--json']);
    expect(k.code).toBe(0);
    expect(JSON.parse(k.stdout).skipped).toEqual([{ path: join(out, 'broken_result.json'), reason: expect.stringMatching(/not valid JSON/) }]);
    expect(k.stderr).toMatch(/skipped unreadable result file .*broken_result\.json/);
    const kt = await trace(['compare', out]);
    expect(kt.stdout).toMatch(/skipped 1 unreadable result file/);
  });

  it('--out that is a file or unwritable: exit 2 before any request is sent (issue 15 item 3)', async () => {
    const before = anthropic.messages().length;
    const file = join(dir, 'out-is-a-file');
    writeFileSync(file, 'x');
    const f = await trace(['replay', TRACE, '--endpoint', anthropic.url, '--model', 'm', '--content', 'synthetic', '--timing', 'fast', '--out', file]);
    expect(f.code).toBe(2);
    expect(f.stderr).toMatch(/--out .*out-is-a-file is a file, not a directory/);
    const n = await trace(['replay', TRACE, '--endpoint', anthropic.url, '--model', 'm', '--content', 'synthetic', '--timing', 'fast', '--out', join(file, 'sub')]);
    expect(n.code).toBe(2);
    expect(n.stderr).toMatch(/not a writable directory/);
    expect(anthropic.messages().length).toBe(before);
  });
});
