/**
 * Validation on a requests.db captured from the REAL Claude Code CLI (headless, offline): claude → trace capture →
 * a fake upstream. The real API is unreachable here, so the upstream reports usage from its own, independent
 * prefix-cache model (longest common prefix, in characters / 4, of the raw request JSON with cache_control and the
 * billing line removed, against every earlier request). What this proves: the whole chain (capture → importer →
 * normalisation → block model → anthropic policy → validation maths) lines up with a cache that sees the same
 * bytes; the number is NOT an accuracy against Anthropic's servers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TRACE_BIN } from '../helpers/paths.js';
import { createFakeAnthropic, defaultScript, lastToolResultText, textReply, toolUseReply, type FakeAnthropic } from '../helpers/fake-anthropic.js';
import { spawnCapture, type SpawnedCapture } from '../capture/spawn-capture.js';
import { CLAUDE_BIN as CLAUDE, offlineClaudeEnv, runClaude } from '../helpers/claude-cli.js';

let fake: FakeAnthropic | undefined;
let cap: SpawnedCapture | undefined;
let dir: string | undefined;
afterEach(async () => {
  await cap?.kill9();
  await fake?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  cap = fake = dir = undefined;
});

/* eslint-disable @typescript-eslint/no-explicit-any */
function strip(v: any): any {
  if (Array.isArray(v)) return v.map(strip);
  if (v && typeof v === 'object') {
    const o: any = {};
    for (const k of Object.keys(v).sort()) if (k !== 'cache_control' && k !== 'signature') o[k] = strip(v[k]);
    return o;
  }
  return v;
}
/** The fake upstream's own view of a prompt: tools, system (no billing line), messages (string ≡ one text block). */
function promptText(body: any): string {
  const sys = (typeof body.system === 'string' ? [{ type: 'text', text: body.system }] : (body.system ?? [])).filter(
    (b: any) => !String(b.text).startsWith('x-anthropic-billing-header'),
  );
  const msgs = (body.messages ?? []).map((m: any) => ({ role: m.role, content: typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content }));
  return JSON.stringify(strip(body.tools ?? [])) + JSON.stringify(strip(sys)) + JSON.stringify(strip(msgs));
}


describe.skipIf(!existsSync(CLAUDE))('validation on a requests.db captured from the real Claude Code CLI', () => {
  it('trace simulate reports API (fake upstream) vs simulated hit rate and accuracy', async () => {
    dir = mkdtempSync(join(tmpdir(), 'trace-sim-cli-'));
    const project = join(dir, 'project');
    const home = join(dir, 'home');
    mkdirSync(project);
    mkdirSync(home);
    const files = [1, 2, 3].map((i) => join(project, `f${i}.txt`));
    files.forEach((f, i) => writeFileSync(f, `file ${i + 1}: ${'lorem ipsum '.repeat(200)}\n`));
    const seenPrompts: string[] = [];
    const usageFor = (body: any) => {
      const text = promptText(body);
      let best = 0;
      for (const p of seenPrompts) {
        let k = 0;
        const lim = Math.min(p.length, text.length);
        while (k < lim && p.charCodeAt(k) === text.charCodeAt(k)) k++;
        if (k > best) best = k;
      }
      seenPrompts.push(text);
      const context = Math.ceil(text.length / 4);
      const read = Math.floor(best / 4);
      return { input_tokens: Math.min(5, context - read), cache_read_input_tokens: read, cache_creation_input_tokens: Math.max(0, context - read - 5) };
    };
    fake = createFakeAnthropic({
      script: (body: any, index, seen) => {
        const usage = usageFor(body);
        if (!(Array.isArray(body?.tools) && body.tools.some((t: any) => t?.name === 'Read'))) return { ...defaultScript(body, index, seen), usage };
        const done = (body.messages ?? []).filter((m: any) => Array.isArray(m.content) && m.content.some((b: any) => b.type === 'tool_result')).length;
        if (done < files.length) return toolUseReply('Read', { file_path: files[done] }, { text: `Reading file ${done + 1}.`, usage });
        return textReply(`Done: ${lastToolResultText(body)?.slice(0, 20)}`, { usage });
      },
    });
    await fake.listen();
    const db = join(dir, 'requests.db');
    cap = await spawnCapture(['--upstream', fake.url, '--db', db]);
    const { code } = await runClaude(
      ['-p', 'Read f1.txt, f2.txt and f3.txt one after another', '--allowedTools', 'Read', '--output-format', 'stream-json', '--verbose'],
      project,
      {
        ...offlineClaudeEnv(cap.url, home, 'sk-ant-fake'),
      },
      150_000,
    );
    expect(code).toBe(0);
    expect(await cap.stop()).toBe(0);
    const upstream = fake.messages().length;

    const r = spawnSync(process.execPath, [TRACE_BIN, 'simulate', db, '--json', '--requests', '--write-at', 'start'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.source.kind).toBe('trace-db');
    expect(j.overall.api_requests).toBe(upstream);
    expect(j.overall.api_hit_rate).toBeGreaterThan(0.3);
    // Accuracy, independently: per-request simulated read share vs the fake upstream's reported reads, weighted
    // by each request's reported context.
    let ctx = 0;
    let apiRead = 0;
    let simRead = 0;
    for (const q of j.requests as { input_tokens: number; read_tokens: number; api: { context_tokens: number; read_tokens: number } | null }[]) {
      if (!q.api) continue;
      ctx += q.api.context_tokens;
      apiRead += q.api.read_tokens;
      if (q.input_tokens > 0) simRead += (q.read_tokens / q.input_tokens) * q.api.context_tokens;
    }
    expect(j.overall.accuracy_pp).toBeCloseTo(Math.abs(simRead - apiRead) / ctx * 100, 6);
    console.info(
      `real-CLI DB (${upstream} requests): fake-upstream hit ${(j.overall.api_hit_rate * 100).toFixed(2)} % vs simulated ${(j.overall.sim_hit_rate_on_api * 100).toFixed(2)} % → ${j.overall.accuracy_pp.toFixed(2)} pp`,
    );
    for (const q of j.requests) console.info(`  ${q.model} in=${q.input_tokens} sim=${q.hit_rate.toFixed(3)} api=${q.api?.hit_rate.toFixed(3)} ${q.miss?.reason ?? ''}`);
    expect(j.overall.accuracy_pp).toBeLessThan(5);
    // The fake caches every common prefix (no breakpoints): the ideal policy models exactly that and lands closer.
    const ideal = spawnSync(process.execPath, [TRACE_BIN, 'simulate', db, '--json', '--policy', 'ideal', '--write-at', 'start'], { encoding: 'utf8' });
    expect(ideal.status, ideal.stderr).toBe(0);
    const ji = JSON.parse(ideal.stdout);
    console.info(`  ideal policy: simulated ${(ji.overall.sim_hit_rate_on_api * 100).toFixed(2)} % → ${ji.overall.accuracy_pp.toFixed(2)} pp`);
    expect(ji.overall.accuracy_pp).toBeLessThan(j.overall.accuracy_pp);
  }, 200_000);
});
