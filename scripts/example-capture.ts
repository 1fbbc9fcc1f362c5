/**
 * Regenerates examples/requests.db with REAL traffic: the real Claude Code CLI (node_modules/.bin/claude,
 * headless, offline) → `trace capture` → `trace serve --engine llama` running a tiny random-weight model built by
 * `trace model tiny`. Run with `npm run example:capture` (= `tsx scripts/example-capture.ts`) after a build
 * (`npx tsc -p tsconfig.build.json`: it drives `node bin/trace.js`).
 *
 * What to expect: timings are real for that tiny model on this machine; its answers are noise. A random model
 * never writes a well-formed tool call on its own, so the server runs with `--tool-grammar first
 * --tool-grammar-tools Read,Agent --tool-grammar-paths <the sample repo's files>`: the first reply to every user
 * turn is FORCED (GBNF grammar) to be one Read or Agent call (the model still picks which, and the Agent's
 * description/prompt strings); Read's `file_path` is pinned to an existing file. Claude Code runs with
 * `--allowedTools Read,Agent`, so a forced Agent call spawns a real sub-agent, whose own first request is again
 * forced to a tool call. Replies to a tool_result are free (noise, cut at --max-output-tokens).
 * There is no sampling seed in `trace serve`, so after the fixed prompts the script sends up to
 * EXAMPLE_EXTRA_PROMPTS more `--continue` prompts until the capture holds a tool loop (tool_use → tool_result)
 * AND an Agent call. A summary of each step goes to examples/requests-capture.json (and stdout).
 *
 * Claude Code also gets API_TIMEOUT_MS=1800000 so a slow first prefill is not retried.
 *
 * Environment knobs: TRACE_BIN (the trace launcher to use, default bin/trace.js), EXAMPLE_CTX (context tokens, default 131072: the tiny model's vocabulary is bytes, and Claude
 * Code's prompt is ~80 KB), EXAMPLE_MAX_OUTPUT (generated tokens cap, default 256: a forced Agent call with two
 * 64-char strings is ~200 byte tokens), EXAMPLE_PROMPT_TIMEOUT_S (per claude run, default 600),
 * EXAMPLE_EXTRA_PROMPTS (default 3), EXAMPLE_SLOTS (serve --slots, default 3).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** TRACE_BIN overrides the CLI used (e.g. a snapshot build while dist/ is being rebuilt). */
const TRACE = process.env.TRACE_BIN ?? join(ROOT, 'bin', 'trace.js');
const CLAUDE = join(ROOT, 'node_modules', '.bin', 'claude');
const OUT_DB = join(ROOT, 'examples', 'requests.db');
const SUMMARY = join(ROOT, 'examples', 'requests-capture.json');
const CTX = Number(process.env.EXAMPLE_CTX ?? 131072);
const MAX_OUTPUT = Number(process.env.EXAMPLE_MAX_OUTPUT ?? 256);
const PROMPT_TIMEOUT_MS = Number(process.env.EXAMPLE_PROMPT_TIMEOUT_S ?? 600) * 1000;

/**
 * Engine sequences. The llama engine's prefix cache lives in its slots; with 2 slots a chain of nested sub-agents
 * (each with its own system prompt / tool set) evicted the main agent's prefix (observed: its reply after the
 * Agent result reused 71 of ~77k tokens). 3 slots keep main, sub-agent (with Agent) and innermost sub-agent
 * (without Agent) apart. KV per token of the 1-layer width-16 model is tiny, so the memory cost is small.
 */
const SLOTS = Number(process.env.EXAMPLE_SLOTS ?? 3);
const EXTRA_PROMPTS = Number(process.env.EXAMPLE_EXTRA_PROMPTS ?? 3);
const ALLOWED_TOOLS = 'Read,Agent';

const PROMPTS = [
  'Read src/math.ts and tell me what the add function does.',
  'Use an agent to read test/math.test.ts and check whether the multiply test is correct.',
  'Summarise this repository in two sentences.',
];
/** Sent with --continue, one at a time, only while the capture still lacks a tool loop or an Agent call. */
const EXTRA = 'Delegate this to an agent: read src/greet.ts and describe the greet function.';

/** Tool loops seen in the captured request bodies (every tool_use / tool_result block, deduplicated by id). */
function toolActivity(dbPath: string): { toolUses: Record<string, number>; toolResults: number; agentCalls: number; toolSets: number } {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const uses = new Map<string, string>();
    const results = new Set<string>();
    const toolSets = new Set<string>();
    for (const r of db.prepare(`SELECT body FROM requests WHERE endpoint = '/v1/messages' AND body IS NOT NULL`).all() as { body: string }[]) {
      let body: { tools?: { name: string }[]; messages?: { content: unknown }[] };
      try {
        body = JSON.parse(r.body) as typeof body;
      } catch {
        continue;
      }
      if (body.tools && body.tools.length > 0) toolSets.add(body.tools.map((t) => t.name).join(','));
      for (const m of body.messages ?? []) {
        if (!Array.isArray(m.content)) continue;
        for (const b of m.content as { type?: string; id?: string; name?: string; tool_use_id?: string }[]) {
          if (b.type === 'tool_use' && b.id) uses.set(b.id, String(b.name));
          if (b.type === 'tool_result' && b.tool_use_id) results.add(b.tool_use_id);
        }
      }
    }
    const toolUses: Record<string, number> = {};
    for (const n of uses.values()) toolUses[n] = (toolUses[n] ?? 0) + 1;
    return { toolUses, toolResults: [...results].filter((id) => uses.has(id)).length, agentCalls: toolUses.Agent ?? 0, toolSets: toolSets.size };
  } finally {
    db.close();
  }
}

const children: ChildProcess[] = [];
const log = (m: string) => process.stdout.write(`[example-capture] ${m}\n`);

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}) {
  return new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string; ms: number }>((resolve) => {
    const t0 = Date.now();
    const p = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(p);
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = opts.timeoutMs ? setTimeout(() => p.kill('SIGTERM'), opts.timeoutMs) : undefined;
    p.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** Starts a long-running `trace` command and resolves with its URL once it prints `listening on URL`. */
function startListening(args: string[], label: string): Promise<{ proc: ChildProcess; url: string; output: () => string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [TRACE, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(p);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${label}: no "listening on" line within 180 s\n${out}`)), 180_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc: p, url: m[1]!, output: () => out });
      }
    };
    p.stdout!.on('data', onData);
    p.stderr!.on('data', onData);
    p.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited early (code ${code})\n${out}`));
    });
  });
}

async function stop(p: ChildProcess, label: string): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise<void>((r) => p.once('close', () => r()));
  p.kill('SIGINT');
  const t = setTimeout(() => {
    log(`${label} did not stop on SIGINT; sending SIGKILL`);
    p.kill('SIGKILL');
  }, 30_000);
  await done;
  clearTimeout(t);
}

const SAMPLE_FILES = ['package.json', 'README.md', 'src/math.ts', 'src/greet.ts', 'test/math.test.ts'];

function sampleRepo(dir: string): void {
  const files: Record<string, string> = {
    'package.json': JSON.stringify({ name: 'sample-math', version: '1.0.0', type: 'module', scripts: { test: 'node --test' } }, null, 2),
    'README.md': '# sample-math\n\nTiny arithmetic helpers used to demonstrate trace capture.\n',
    'src/math.ts': 'export function add(a: number, b: number): number {\n  return a + b;\n}\n\nexport function multiply(a: number, b: number): number {\n  return a * b;\n}\n',
    'src/greet.ts': "export function greet(name: string): string {\n  return `Hello, ${name}!`;\n}\n",
    'test/math.test.ts': "import { add, multiply } from '../src/math.js';\nimport assert from 'node:assert';\nassert.equal(add(2, 3), 5);\nassert.equal(multiply(2, 3), 5); // wrong on purpose\n",
  };
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
}

async function main(): Promise<void> {
  if (!existsSync(join(dirname(TRACE), '..', 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npx tsc -p tsconfig.build.json` first');
  const tmp = mkdtempSync(join(tmpdir(), 'trace-example-'));
  const home = join(tmp, 'home');
  const repo = join(tmp, 'sample-repo');
  mkdirSync(home, { recursive: true });
  sampleRepo(repo);
  const pathsFile = join(tmp, 'paths.txt');
  writeFileSync(pathsFile, SAMPLE_FILES.map((p) => join(repo, p)).join('\n') + '\n');
  for (const p of [OUT_DB, `${OUT_DB}-wal`, `${OUT_DB}-shm`]) rmSync(p, { force: true });
  const summary: Record<string, unknown> = {
    startedAt: new Date().toISOString(),
    ctx: CTX,
    slots: SLOTS,
    maxOutputTokens: MAX_OUTPUT,
    toolGrammar: { mode: 'first', tools: ALLOWED_TOOLS, paths: SAMPLE_FILES },
    allowedTools: ALLOWED_TOOLS,
  };

  const model = join(tmp, 'tiny.gguf');
  // 1 layer, width 16: Claude Code's ~76 KB first prompt is ~76k byte tokens; this shape prefills it in about a
  // minute on 2 CPU cores (width 64 × 2 layers took > 5 min, past Claude Code's request timeout).
  const m = await run(process.execPath, [TRACE, 'model', 'tiny', '--out', model, '--layers', '1', '--dim', '16', '--heads', '1', '--context', String(CTX), '--json']);
  if (m.code !== 0) throw new Error(`trace model tiny failed: ${m.stderr}`);
  summary.model = JSON.parse(m.stdout);
  log(`tiny model: ${model}`);

  const serve = await startListening(
    ['serve', '--engine', 'llama', '--model', model, '--port', '0', '--ctx-size', String(CTX), '--slots', String(SLOTS), '--max-output-tokens', String(MAX_OUTPUT),
     '--tool-grammar', 'first', '--tool-grammar-tools', ALLOWED_TOOLS, '--tool-grammar-paths', pathsFile],
    'serve',
  );
  log(`serve: ${serve.url}`);
  const capture = await startListening(['capture', '--upstream', serve.url, '--port', '0', '--db', OUT_DB], 'capture');
  log(`capture: ${capture.url} → ${OUT_DB}`);

  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    ANTHROPIC_BASE_URL: capture.url,
    ANTHROPIC_API_KEY: 'dummy',
    DISABLE_TELEMETRY: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_ERROR_REPORTING: '1',
    // The first (uncached) prefill takes about a minute on a small CPU; give Claude Code room before it retries.
    API_TIMEOUT_MS: '1800000',
  };
  const runs: unknown[] = [];
  try {
    for (let i = 0; ; i++) {
      let prompt: string;
      if (i < PROMPTS.length) prompt = PROMPTS[i]!;
      else {
        const seen = toolActivity(OUT_DB);
        if (seen.toolResults > 0 && seen.agentCalls > 0) break;
        if (i >= PROMPTS.length + EXTRA_PROMPTS) {
          log(`giving up after ${EXTRA_PROMPTS} extra prompts: ${JSON.stringify(seen)}`);
          break;
        }
        prompt = EXTRA;
      }
      const args = [...(i > 0 ? ['--continue'] : []), '-p', prompt, '--output-format', 'stream-json', '--verbose', '--allowedTools', ALLOWED_TOOLS];
      log(`claude ${i > 0 ? '--continue ' : ''}-p ${JSON.stringify(prompt)}`);
      const r = await run(CLAUDE, args, { env, cwd: repo, timeoutMs: PROMPT_TIMEOUT_MS });
      const lines = r.stdout.split('\n').filter((l) => l.trim().startsWith('{')).map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return {};
        }
      });
      const result = lines.find((l) => l.type === 'result') as Record<string, unknown> | undefined;
      const toolUses = lines.filter((l) => l.type === 'assistant').flatMap((l) => ((l.message as { content?: { type: string; name?: string }[] })?.content ?? []).filter((b) => b.type === 'tool_use').map((b) => b.name));
      const entry = {
        prompt,
        extra: i >= PROMPTS.length,
        exitCode: r.code,
        signal: r.signal,
        wallMs: r.ms,
        streamJsonLines: lines.length,
        toolUses,
        result: result ? { subtype: result.subtype, is_error: result.is_error, num_turns: result.num_turns, duration_ms: result.duration_ms, result: String(result.result ?? '').slice(0, 200) } : null,
        stderrTail: r.stderr.slice(-600),
      };
      runs.push(entry);
      log(`  exit ${r.code}${r.signal ? ` (${r.signal})` : ''} in ${(r.ms / 1000).toFixed(1)} s; tool uses: ${toolUses.length}; result: ${JSON.stringify(entry.result)}`);
    }
  } finally {
    await stop(capture.proc, 'capture');
    await stop(serve.proc, 'serve');
  }
  summary.runs = runs;
  summary.toolActivity = toolActivity(OUT_DB);
  summary.captureOutputTail = capture.output().slice(-1500);
  summary.serveOutputTail = serve.output().slice(-1500);

  // Make the committed database one self-contained file.
  const db = new Database(OUT_DB);
  db.pragma('journal_mode = DELETE');
  db.exec('VACUUM');
  summary.rows = db
    .prepare(
      `SELECT seq, endpoint, model, is_streaming, status, state, round(ttft_ms) AS ttft_ms, round(duration_ms) AS duration_ms,
              input_tokens, cache_read_input_tokens, cache_creation_input_tokens, output_tokens, stop_reason, request_bytes, error
         FROM requests ORDER BY started_at_ms, seq`,
    )
    .all();
  db.close();
  summary.finishedAt = new Date().toISOString();
  writeFileSync(SUMMARY, JSON.stringify(summary, null, 2) + '\n');
  log(`wrote ${OUT_DB} and ${SUMMARY}`);
  rmSync(tmp, { recursive: true, force: true });
}

main().catch(async (e: unknown) => {
  process.stderr.write(`[example-capture] failed: ${e instanceof Error ? e.message : String(e)}\n`);
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  process.exitCode = 1;
});
