import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import type { MessagesRequest, StreamEvent, TextBlock } from '../../src/shared/anthropic.js';
import { parseUserId } from '../../src/shared/anthropic.js';
import { MessageAssembler } from '../../src/shared/message-assembler.js';
import { isBillingLine, isMessagePrefix, promptSegments } from '../../src/analyze/normalize.js';
import { chars4Tokenizer } from '../../src/analyze/tokenizers/chars4.js';
import { generateSynthetic, type SynthResult } from '../../src/synth/generate.js';
import { writeSyntheticDb } from '../../src/synth/write-db.js';
import { FIXTURES, HAS_SHARED, ROOT } from '../helpers/paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'trace-synth-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const result: SynthResult = generateSynthetic({ seed: 11, sessions: 2, subagents: 4, turns: 4 });
const rows = result.rows;
const bodies = rows.map((r) => JSON.parse(r.body) as MessagesRequest);
const kinds = result.meta.map((m) => m.kind);

function readRows(path: string): unknown[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT * FROM requests ORDER BY id').all();
  } finally {
    db.close();
  }
}

function fixture(name: string): MessagesRequest {
  return JSON.parse(readFileSync(join(FIXTURES, 'claude-code', name), 'utf8')) as MessagesRequest;
}

function markerCount(body: MessagesRequest): number {
  let n = 0;
  for (const m of body.messages) {
    if (typeof m.content === 'string') continue;
    for (const b of m.content) if ((b as { cache_control?: unknown }).cache_control) n++;
  }
  return n;
}

describe('trace synth: determinism', () => {
  it('the same seed gives identical rows, in memory and in the written database', () => {
    const again = generateSynthetic({ seed: 11, sessions: 2, subagents: 4, turns: 4 });
    expect(again.rows).toEqual(rows);
    const a = join(tmp, 'a.db');
    const b = join(tmp, 'b.db');
    writeSyntheticDb(a, rows);
    writeSyntheticDb(b, again.rows);
    const ra = readRows(a);
    expect(ra).toHaveLength(rows.length);
    expect(readRows(b)).toEqual(ra);
  });

  it('a different seed gives different sessions', () => {
    const other = generateSynthetic({ seed: 12, sessions: 2, subagents: 4, turns: 4 });
    expect(other.rows.map((r) => r.session_id)).not.toEqual(rows.map((r) => r.session_id));
    expect(other.rows.map((r) => r.body)).not.toEqual(rows.map((r) => r.body));
  });

  it('refuses to overwrite an existing file without force', () => {
    const p = join(tmp, 'exists.db');
    writeSyntheticDb(p, rows.slice(0, 2));
    expect(() => writeSyntheticDb(p, rows.slice(0, 2))).toThrow(/already exists/);
    writeSyntheticDb(p, rows.slice(0, 3), { force: true });
    expect(readRows(p)).toHaveLength(3);
  });

  const committed = join(ROOT, 'examples', 'synthetic.db');
  it.skipIf(!existsSync(committed))('examples/synthetic.db is exactly `trace synth --seed 1` with the defaults', () => {
    const fresh = join(tmp, 'fresh.db');
    writeSyntheticDb(fresh, generateSynthetic({ seed: 1 }).rows);
    const digest = (rs: unknown[]) => createHash('sha256').update(JSON.stringify(rs)).digest('hex');
    const [a, b] = [readRows(committed), readRows(fresh)];
    expect(a.length).toBe(b.length);
    // a digest, so a stale file fails with one line instead of a multi-megabyte diff
    expect(digest(a), 'examples/synthetic.db is stale: regenerate with `trace synth --out examples/synthetic.db --force`').toBe(digest(b));
  });
});

describe('trace synth: labelled synthetic, rows as capture writes them', () => {
  it('every row is marked synthetic and complete enough for analysis', () => {
    expect(rows.length).toBeGreaterThan(20);
    for (const r of rows) {
      expect(r.user_agent).toMatch(/^trace-synth\//);
      expect(r.upstream_url).toBe('synthetic://trace-synth');
      expect(r.method).toBe('POST');
      expect(r.endpoint).toBe('/v1/messages');
      expect(r.status).toBe(200);
      expect(r.request_bytes).toBe(Buffer.byteLength(r.body));
      expect(r.session_id).toBe(parseUserId((JSON.parse(r.body) as MessagesRequest).metadata?.user_id).sessionId);
      expect(r.ttft_ms!).toBeLessThanOrEqual(r.duration_ms!);
    }
    // seq follows send order
    const starts = rows.map((r) => r.started_at_ms!);
    expect([...starts].sort((x, y) => x - y)).toEqual(starts);
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
  });

  it('recorded SSE events reassemble to the row columns (usage, stop reason, message id)', () => {
    let checked = 0;
    for (const r of rows) {
      if (!r.sse_events || r.state !== 'complete') continue;
      const asm = new MessageAssembler();
      for (const [, , data] of JSON.parse(r.sse_events) as [number, string, string][]) asm.push(JSON.parse(data) as StreamEvent);
      const m = asm.result()!;
      expect(m.id).toBe(r.message_id);
      expect(m.stop_reason).toBe(r.stop_reason);
      expect(m.usage).toEqual({
        input_tokens: r.input_tokens,
        output_tokens: r.output_tokens,
        cache_read_input_tokens: r.cache_read_input_tokens,
        cache_creation_input_tokens: r.cache_creation_input_tokens,
      });
      const log = JSON.parse(r.response!) as { streamingChunks: string[]; isStreaming: boolean };
      expect(log.isStreaming).toBe(true);
      expect(log.streamingChunks.length).toBe((JSON.parse(r.sse_events) as unknown[]).length);
      checked++;
    }
    expect(checked).toBeGreaterThan(rows.length / 2);
  });

  it('a broken stream is followed by a non-streaming resend of the same turn', () => {
    const broken = rows.findIndex((r) => r.state === 'error');
    expect(broken).toBeGreaterThanOrEqual(0);
    expect(rows[broken]!.output_tokens).toBeNull();
    expect(rows[broken]!.is_streaming).toBe(1);
    const resend = rows.findIndex((r, i) => i > broken && r.session_id === rows[broken]!.session_id && kinds[i] === 'main');
    expect(rows[resend]!.is_streaming).toBe(0);
    const a = bodies[broken]!;
    const b = bodies[resend]!;
    expect({ ...b, stream: true }).toEqual(a);
    expect(result.meta[resend]!.retry).toBe(true);
    // The broken request's prefill wrote the cache, so the resend reads all of it.
    expect(rows[resend]!.cache_creation_input_tokens).toBe(0);
  });
});

describe.skipIf(!HAS_SHARED)('trace synth: bodies have the real Claude Code shape (../shared/fixtures/claude-code)', () => {
  if (!HAS_SHARED) it.skip('../shared/fixtures absent: shape comparison skipped', () => {});
  const f = HAS_SHARED
    ? {
        main: fixture('main-tool-result-2.1.197.json'),
        mainText: fixture('main-text-2.1.197.json'),
        sub: fixture('subagent-2.1.197.json'),
        title: fixture('title-haiku-2.1.197.json'),
      }
    : null;

  const byKind = (k: string) => bodies.filter((_, i) => kinds[i] === k);

  it('top-level keys match the fixture of the same kind', () => {
    for (const b of byKind('main')) expect(Object.keys(b)).toEqual(Object.keys(f!.main));
    for (const b of byKind('subagent')) expect(Object.keys(b)).toEqual(Object.keys(f!.sub));
    for (const b of byKind('title')) expect(Object.keys(b)).toEqual(Object.keys(f!.title));
  });

  it('tools: counts and sizes in the fixtures’ range, same definition keys', () => {
    const size = (b: MessagesRequest) => JSON.stringify(b.tools).length;
    const mainCounts = [f!.main.tools!.length, f!.mainText.tools!.length];
    const mainSizes = [size(f!.main), size(f!.mainText)];
    for (const b of byKind('main')) {
      expect(b.tools!.length).toBeGreaterThanOrEqual(Math.min(...mainCounts));
      expect(b.tools!.length).toBeLessThanOrEqual(Math.max(...mainCounts));
      expect(size(b)).toBeGreaterThan(Math.min(...mainSizes) * 0.9);
      expect(size(b)).toBeLessThan(Math.max(...mainSizes) * 1.1);
      expect(size(b)).toBeGreaterThan(65_000 * 0.95);
      for (const t of b.tools!) {
        expect(Object.keys(t)).toEqual(Object.keys(f!.main.tools![0]!));
        expect(Object.keys(t.input_schema as object).every((k) => k in (f!.main.tools!.find((x) => x.name === 'Read')!.input_schema as object))).toBe(true);
      }
    }
    for (const b of byKind('subagent')) {
      expect(b.tools!.length).toBe(f!.sub.tools!.length);
      expect(size(b)).toBeGreaterThan(size(f!.sub) * 0.85);
      expect(size(b)).toBeLessThan(size(f!.sub) * 1.15);
      // fewer tools than the main agent
      expect(b.tools!.length).toBeLessThan(byKind('main')[0]!.tools!.length);
    }
    for (const b of byKind('title')) expect(b.tools).toEqual(f!.title.tools);
  });

  it('system: three text blocks, per-conversation billing line first, markers like the fixtures', () => {
    const marks = (b: MessagesRequest) => (b.system as TextBlock[]).map((s) => (s.cache_control ? s.cache_control.type : null));
    for (const [k, fx] of [['main', f!.main], ['subagent', f!.sub], ['title', f!.title]] as const) {
      for (const b of byKind(k)) {
        const sys = b.system as TextBlock[];
        expect(sys).toHaveLength(3);
        expect(sys.every((s) => s.type === 'text')).toBe(true);
        expect(isBillingLine(sys[0]!.text)).toBe(true);
        expect(sys[0]!.text.includes('cc_is_subagent=true')).toBe((fx.system as TextBlock[])[0]!.text.includes('cc_is_subagent=true'));
        expect(marks(b)).toEqual(marks(fx));
      }
    }
    // the billing line differs per conversation, the rest of the system prompt does not
    const sessions0 = new Set(byKind('main').map((b) => (b.system as TextBlock[])[0]!.text));
    expect(sessions0.size).toBe(2);
    expect(new Set(byKind('main').map((b) => (b.system as TextBlock[])[2]!.text)).size).toBe(1);
  });

  it('metadata.user_id is a JSON string with the fixture’s keys; sub-agents and title share the session id', () => {
    const fxKeys = Object.keys(JSON.parse(f!.main.metadata!.user_id!) as object);
    for (const b of bodies) expect(Object.keys(JSON.parse(b.metadata!.user_id!) as object)).toEqual(fxKeys);
    const mainSessions = new Set(rows.filter((_, i) => kinds[i] === 'main').map((r) => r.session_id));
    expect(mainSessions.size).toBe(2);
    for (const [i, r] of rows.entries()) expect(mainSessions.has(r.session_id)).toBe(kinds[i] !== undefined);
  });

  it('messages: user opener with context reminder, a role:"system" message, one marker on the newest block', () => {
    const blockTypes = new Set<string>();
    for (const [i, b] of bodies.entries()) {
      if (kinds[i] === 'title') continue;
      const fx = kinds[i] === 'main' ? f!.main : f!.sub;
      expect(b.messages[0]!.role).toBe('user');
      expect((b.messages[0]!.content as TextBlock[]).map((x) => x.type)).toEqual((fx.messages[0]!.content as TextBlock[]).map((x) => x.type));
      expect(b.messages[1]!.role).toBe('system');
      expect(typeof b.messages[1]!.content).toBe(typeof fx.messages[1]!.content);
      expect(markerCount(b)).toBe(1);
      const lastNonSystem = [...b.messages].reverse().find((m) => m.role !== 'system')!;
      const lb = (lastNonSystem.content as { cache_control?: unknown }[]).at(-1)!;
      expect(lb.cache_control).toEqual({ type: 'ephemeral' });
      for (const m of b.messages) if (typeof m.content !== 'string') for (const x of m.content) blockTypes.add(x.type);
    }
    expect([...blockTypes].sort()).toEqual(['text', 'thinking', 'tool_result', 'tool_use']);
  });

  it('messages are append-only per agent, and a marked single text block later becomes a plain string', () => {
    const agentKey = (i: number) => `${rows[i]!.session_id}|${(bodies[i]!.system as TextBlock[])[0]!.text}|${JSON.stringify(bodies[i]!.messages[0])}`;
    const last = new Map<string, MessagesRequest>();
    let grew = 0;
    let stringified = 0;
    for (const [i, b] of bodies.entries()) {
      if (kinds[i] === 'title') continue;
      const k = agentKey(i);
      const prev = last.get(k);
      if (prev) {
        expect(isMessagePrefix(prev.messages, b.messages)).toBe(true);
        if (b.messages.length > prev.messages.length) grew++;
        prev.messages.forEach((m, j) => {
          const now = b.messages[j]!;
          if (Array.isArray(m.content) && m.content.length === 1 && m.content[0]!.type === 'text' && typeof now.content === 'string') stringified++;
        });
      }
      last.set(k, b);
    }
    expect(grew).toBeGreaterThan(10);
    expect(stringified).toBeGreaterThan(0);
  });
});

describe('trace synth: usage from the generator’s cache model is internally consistent', () => {
  it('input + cache_read + cache_creation = context tokens of the body (tools → system → messages, billing line dropped)', () => {
    for (const [i, r] of rows.entries()) {
      const expected = promptSegments(bodies[i]!).reduce((n, s) => n + chars4Tokenizer.count(s.text), 0);
      expect(r.input_tokens! + r.cache_read_input_tokens! + r.cache_creation_input_tokens!).toBe(expected);
      expect(r.input_tokens!).toBeGreaterThanOrEqual(0);
    }
  });

  it('sub-agents sent together all miss what their siblings write; their later turns hit', () => {
    const firstIdx = rows
      .map((_, i) => i)
      .filter((i) => kinds[i] === 'subagent' && bodies[i]!.messages.length === 2);
    expect(firstIdx).toHaveLength(8); // 2 sessions × 4
    for (const s of [0, 1]) {
      const group = firstIdx.filter((i) => result.meta[i]!.sessionIndex === s).map((i) => rows[i]!);
      expect(group).toHaveLength(4);
      const t = group.map((r) => r.started_at_ms!);
      expect(Math.max(...t) - Math.min(...t)).toBeLessThan(1000);
      // all four see the same cache state: none reads the shared prefix a sibling is still prefilling
      expect(new Set(group.map((r) => r.cache_read_input_tokens)).size).toBe(1);
      for (const r of group) expect(r.cache_creation_input_tokens!).toBeGreaterThan(0);
    }
    // the earliest fan-out of the run finds nothing cached at all
    const earliest = firstIdx.map((i) => rows[i]!).sort((a, b) => a.started_at_ms! - b.started_at_ms!).slice(0, 4);
    for (const r of earliest) {
      expect(r.cache_read_input_tokens).toBe(0);
      expect(r.cache_creation_input_tokens!).toBeGreaterThan(5000);
    }
    const later = rows.filter((_, i) => kinds[i] === 'subagent' && bodies[i]!.messages.length > 2);
    expect(later.length).toBeGreaterThan(0);
    for (const r of later) expect(r.cache_read_input_tokens!).toBeGreaterThan(5000);
  });

  it('cold start misses; later main turns hit; a second session hits tools+system cached by the first', () => {
    const mains = rows.map((r, i) => ({ r, i })).filter(({ i }) => kinds[i] === 'main');
    const s0 = mains.filter(({ i }) => result.meta[i]!.sessionIndex === 0);
    const s1 = mains.filter(({ i }) => result.meta[i]!.sessionIndex === 1);
    expect(s0[0]!.r.cache_read_input_tokens).toBe(0);
    expect(s0[0]!.r.cache_creation_input_tokens!).toBeGreaterThan(15_000);
    for (const { r } of s0.slice(1)) expect(r.cache_read_input_tokens!).toBeGreaterThan(15_000);
    // session 2's very first request: its messages are new but tools + system are shared
    const tokensOfToolsAndSystem = promptSegments(bodies[s1[0]!.i]!)
      .filter((s) => s.kind !== 'message')
      .reduce((n, s) => n + chars4Tokenizer.count(s.text), 0);
    expect(s1[0]!.r.cache_read_input_tokens).toBe(tokensOfToolsAndSystem);
  });

  it('sub-agents run inside the parent Agent call: after its response, before the tool_result request', () => {
    const mains = rows.map((r, i) => ({ r, i })).filter(({ i }) => kinds[i] === 'main' && result.meta[i]!.sessionIndex === 0);
    const spawnAt = mains.findIndex(({ i }) => {
      const next = bodies[i + 1];
      return next !== undefined && kinds[i + 1] === 'subagent';
    });
    expect(spawnAt).toBeGreaterThanOrEqual(0);
    const parent = mains[spawnAt]!;
    const after = mains[spawnAt + 1]!;
    const lastMsg = bodies[after.i]!.messages.at(-1)!;
    const results = (lastMsg.content as { type: string }[]).filter((b) => b.type === 'tool_result');
    expect(results).toHaveLength(4);
    const subs = rows.filter((r, i) => kinds[i] === 'subagent' && result.meta[i]!.sessionIndex === 0);
    for (const s of subs) {
      expect(s.session_id).toBe(parent.r.session_id);
      expect(s.started_at_ms!).toBeGreaterThanOrEqual(parent.r.started_at_ms! + parent.r.duration_ms!);
      expect(s.started_at_ms! + s.duration_ms!).toBeLessThanOrEqual(after.r.started_at_ms!);
    }
  });

  it('think times: a user pause before each new prompt, shorter tool gaps before tool results', () => {
    const userGaps: number[] = [];
    const toolGaps: number[] = [];
    for (const sess of [0, 1]) {
      const mains = rows.map((r, i) => ({ r, i })).filter(({ i }) => kinds[i] === 'main' && result.meta[i]!.sessionIndex === sess);
      for (let k = 1; k < mains.length; k++) {
        const p = mains[k - 1]!.r;
        if (p.state !== 'complete' || result.meta[mains[k]!.i]!.retry) continue;
        const gap = mains[k]!.r.started_at_ms! - (p.started_at_ms! + p.duration_ms!);
        expect(gap).toBeGreaterThanOrEqual(0);
        const lastBlock = (bodies[mains[k]!.i]!.messages.at(-1)!.content as { type: string }[]).at(-1)!;
        (lastBlock.type === 'text' ? userGaps : toolGaps).push(gap);
      }
    }
    expect(userGaps).toHaveLength(6); // 2 sessions × (4 turns − 1)
    for (const g of userGaps) expect(g).toBeGreaterThanOrEqual(4000);
    expect(toolGaps.length).toBeGreaterThan(4);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    expect(median(toolGaps)).toBeLessThan(median(userGaps));
  });

  it('one title side request per session on the small model, with no tools and no markers', () => {
    const titles = rows.filter((_, i) => kinds[i] === 'title');
    expect(titles).toHaveLength(2);
    for (const t of titles) {
      expect(t.model).toMatch(/haiku/);
      expect(t.cache_read_input_tokens).toBe(0);
      expect(t.cache_creation_input_tokens).toBe(0);
      const asm = new MessageAssembler();
      for (const [, , data] of JSON.parse(t.sse_events!) as [number, string, string][]) asm.push(JSON.parse(data) as StreamEvent);
      const text = (asm.result()!.content[0] as TextBlock).text;
      expect(typeof (JSON.parse(text) as { title: unknown }).title).toBe('string');
    }
  });
});
