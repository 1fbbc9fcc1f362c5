/**
 * Corpus directories of kv-cache-tester / Weka files: `trace simulate <dir> --policy ideal` equals an independent
 * prefix count over the same files (a set-of-prefixes loop written here, one namespace per file), for sub-agent
 * files in both `t` conventions; bad files are skipped and reported.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CliContext } from '../../src/cli/context.js';
import { ManualClock } from '../../src/shared/clock.js';
import { memoryLogger, silentLogger, type Logger } from '../../src/shared/logger.js';
import { openSource } from '../../src/store/sources/index.js';
import { FIXTURES, HAS_SHARED } from '../helpers/paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'trace-corpus-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
if (!HAS_SHARED) console.warn('corpus directory tests skipped: ../shared/fixtures is absent');

function ctx(logger: Logger = silentLogger): CliContext & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (t) => void out.push(t), stderr: (t) => void err.push(t), env: {}, cwd: tmp, isTTY: false, clock: new ManualClock(0), logger, interrupted: new AbortController().signal, onShutdown: () => {} };
}

interface Raw {
  t: number;
  type?: string;
  in?: number;
  api_time?: number | null;
  hash_ids?: number[];
  requests?: Raw[];
  [k: string]: unknown;
}
interface RawTrace {
  id: string;
  block_size: number;
  requests: Raw[];
  [k: string]: unknown;
}

const read = (name: string) => JSON.parse(readFileSync(join(FIXTURES, 'agentic-coding-analysis', name), 'utf8')) as RawTrace;

/** Independent count. `absolute` says how this test wrote each file's sub-agent `t`; blocks become readable at t + api_time (or t with writeAtStart). */
function expectedCount(files: { trace: RawTrace; absolute: boolean }[], writeAtStart: boolean) {
  const flat: { file: number; t: number; at: number; in: number; ids: number[] }[] = [];
  files.forEach(({ trace, absolute }, file) => {
    const add = (r: Raw, t: number) => flat.push({ file, t, at: writeAtStart ? t : t + (r.api_time ?? 0), in: r.in!, ids: r.hash_ids! });
    for (const r of trace.requests) {
      if (r.requests) for (const s of r.requests) add(s, absolute ? s.t : r.t + s.t);
      else add(r, r.t);
    }
  });
  const order = flat.map((r, i) => ({ r, i })).sort((a, b) => a.r.t - b.r.t || a.i - b.i).map((x) => x.r);
  const readable = new Set<string>();
  const pending: { at: number; keys: string[] }[] = [];
  let hit = 0;
  let input = 0;
  for (const r of order) {
    for (let i = pending.length - 1; i >= 0; i--) {
      if (pending[i]!.at <= r.t) {
        for (const k of pending[i]!.keys) readable.add(k);
        pending.splice(i, 1);
      }
    }
    let k = 0;
    while (k < r.ids.length && readable.has(`${r.file}/${r.ids[k]}`)) k++;
    hit += Math.min(k * 64, r.in);
    input += r.in;
    pending.push({ at: r.at, keys: r.ids.map((id) => `${r.file}/${id}`) });
  }
  return { hit, input, requests: order.length };
}

describe.skipIf(!HAS_SHARED)('corpus directory of kv-cache-tester files', () => {
  const dir = join(tmp, 'corpus');
  // Read in beforeAll, not at collection: a skipped suite's body still runs, and the fixtures may be absent.
  let plain!: RawTrace;
  let files!: { name: string; trace: RawTrace; absolute: boolean }[];
  beforeAll(() => {
    mkdirSync(join(dir, 'nested'), { recursive: true });
    plain = read('sample_trace.json');
    const relative = read('sample_trace_with_subagent.json');
    // The same sub-agent session with its nested t written on the trace clock (current Weka captures).
    const absolute: RawTrace = { ...structuredClone(relative), id: 'absolute-session' };
    for (const e of absolute.requests) if (e.requests) for (const s of e.requests) s.t = +(s.t + e.t).toFixed(3);
    // The plain sample split in two sessions (first 3 / last 3 requests), each numbering its blocks independently.
    const half = (reqs: Raw[], id: string): RawTrace => ({ ...structuredClone(plain), id, requests: structuredClone(reqs) });
    files = [
      { name: 'a-relative.json', trace: relative, absolute: false },
      { name: 'b-absolute.json', trace: absolute, absolute: true },
      { name: 'nested/c-first.json', trace: half(plain.requests.slice(0, 3), 'first-half'), absolute: false },
      { name: 'nested/d-second.json', trace: half(plain.requests.slice(3), 'second-half'), absolute: false },
    ];
    for (const f of files) writeFileSync(join(dir, f.name), JSON.stringify(f.trace));
  });

  for (const writeAtStart of [false, true]) {
    it(`simulate <dir> --policy ideal${writeAtStart ? ' --write-at start' : ''} = the independent prefix count`, async () => {
      const c = ctx();
      const args = ['node', 'trace', 'simulate', dir, '--policy', 'ideal', '--json', ...(writeAtStart ? ['--write-at', 'start'] : [])];
      expect(await main(args, c)).toBe(0);
      const j = JSON.parse(c.out.join('')) as { overall: { requests: number; input_tokens: number; read_tokens: number; sim_hit_rate: number }; source: { corpus: { files: number; hash_id_namespace: string; sessions: { session_id: string; subagent_t: string | null; subagents: number }[] } }; conversations: { conversation_id: string }[] };
      const exp = expectedCount(files, writeAtStart);
      expect(j.overall.requests).toBe(exp.requests);
      expect(j.overall.input_tokens).toBe(exp.input);
      expect(j.overall.read_tokens).toBe(exp.hit);
      expect(j.overall.sim_hit_rate).toBeCloseTo(exp.hit / exp.input, 12);
      expect(j.source.corpus.files).toBe(4);
      expect(j.source.corpus.hash_id_namespace).toBe('per-file');
      const byId = Object.fromEntries(j.source.corpus.sessions.map((s) => [s.session_id, s]));
      expect(byId['02f3098e-6bc']).toMatchObject({ subagent_t: 'relative', subagents: 4 });
      expect(byId['absolute-session']).toMatchObject({ subagent_t: 'absolute', subagents: 4 });
      expect(byId['first-half']).toMatchObject({ subagent_t: null, subagents: 0 });
      expect(j.conversations.map((x) => x.conversation_id).sort()).toEqual(['02f3098e-6bc', 'absolute-session', 'first-half', 'second-half']);
    });
  }

  it('both t conventions land the sub-agent requests on the same clock', () => {
    const a = openSource(join(dir, 'a-relative.json'), { logger: silentLogger }).blocks!();
    const b = openSource(join(dir, 'b-absolute.json'), { logger: silentLogger }).blocks!();
    const ta = [...a].map((r) => r.t);
    const tb = [...b].map((r) => r.t);
    for (let i = 0; i < ta.length; i++) expect(tb[i]).toBeCloseTo(ta[i]!, 2);
  });

  it('two files never share a block: the same session twice in a corpus reads nothing across files', async () => {
    const d2 = join(tmp, 'twice');
    mkdirSync(d2);
    writeFileSync(join(d2, '1.json'), JSON.stringify(plain));
    writeFileSync(join(d2, '2.json'), JSON.stringify(plain));
    const c = ctx();
    expect(await main(['node', 'trace', 'simulate', d2, '--policy', 'ideal', '--write-at', 'start', '--json'], c)).toBe(0);
    const j = JSON.parse(c.out.join('')) as { overall: { read_tokens: number }; conversations: { conversation_id: string; read_tokens: number }[] };
    const one = expectedCount([{ trace: plain, absolute: false }], true);
    expect(j.overall.read_tokens).toBe(2 * one.hit);
    expect(j.conversations.map((x) => x.conversation_id)).toEqual(['02f3098e-6bc', '02f3098e-6bc#2']);
  });

  it('a corrupt file is reported and skipped; the others are simulated', async () => {
    const d3 = join(tmp, 'with-bad');
    mkdirSync(d3);
    writeFileSync(join(d3, 'good.json'), JSON.stringify(plain));
    writeFileSync(join(d3, 'corrupt.json'), '{"id": "x", "block_size": 64, "requests": [{"t": 0, "hash_ids": [1, 2');
    writeFileSync(join(d3, 'notes.txt'), 'hello');
    const logger = memoryLogger();
    const c = ctx(logger);
    expect(await main(['node', 'trace', 'simulate', d3, '--policy', 'ideal', '--json'], c)).toBe(0);
    const j = JSON.parse(c.out.join('')) as { overall: { requests: number }; source: { corpus: { files: number; skipped_files: { file: string; error: string }[] } } };
    expect(j.overall.requests).toBe(plain.requests.length);
    expect(j.source.corpus.files).toBe(3);
    expect(j.source.corpus.skipped_files.map((f) => f.file)).toEqual(['corrupt.json', 'notes.txt']);
    expect(j.source.corpus.skipped_files[0]!.error).toMatch(/not valid JSON/);
    expect(j.source.corpus.skipped_files[1]!.error).toMatch(/tried: kv-cache-tester, tracelab, mooncake, .*claude-trace/);
    expect(logger.lines.filter((l) => l.startsWith('warn:') && l.includes('corrupt.json'))).toHaveLength(1);
  });

  it('an unrecognised directory names the importers tried', async () => {
    const d4 = join(tmp, 'unknown');
    mkdirSync(d4);
    writeFileSync(join(d4, 'x.txt'), 'nothing here');
    const c = ctx();
    expect(await main(['node', 'trace', 'simulate', d4], c)).toBe(2);
    expect(c.err.join('')).toMatch(/cannot recognise .* \(tried: kv-cache-tester, .*claude-trace, claude-jsonl, .*corpus\)/);
  });

  it('a request without "in" is warned about and counted (sized by its hash ids), not a silent 0 %', async () => {
    const t = structuredClone(plain);
    delete t.requests[1]!.in;
    const f = join(tmp, 'no-in.json');
    writeFileSync(f, JSON.stringify(t));
    const logger = memoryLogger();
    const c = ctx(logger);
    expect(await main(['node', 'trace', 'simulate', f, '--policy', 'ideal', '--json', '--requests'], c)).toBe(0);
    const j = JSON.parse(c.out.join('')) as { source: { corpus: { sessions: { missing_in: number }[] } }; requests: { input_tokens: number; hit_rate: number }[] };
    expect(j.source.corpus.sessions[0]!.missing_in).toBe(1);
    expect(j.requests[1]!.input_tokens).toBe(plain.requests[1]!.hash_ids!.length * 64);
    expect(j.requests[1]!.hit_rate).toBeGreaterThan(0.9);
    expect(logger.lines.some((l) => l.startsWith('warn:') && l.includes('without "in"'))).toBe(true);
  });
});
