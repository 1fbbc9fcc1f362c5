import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CliContext } from '../../src/cli/context.js';
import { ManualClock } from '../../src/shared/clock.js';
import { silentLogger } from '../../src/shared/logger.js';
import { FIXTURES, HAS_SHARED } from '../helpers/paths.js';

const FILE = join(FIXTURES, 'tracelab', 'round_trace.jsonl');
if (!HAS_SHARED) console.warn('TraceLab tests skipped: ../shared/fixtures is absent');

async function run(args: string[]) {
  const out: string[] = [];
  const c: CliContext = { stdout: (t) => void out.push(t), stderr: () => {}, env: {}, cwd: '/', isTTY: false, clock: new ManualClock(0), logger: silentLogger, interrupted: new AbortController().signal, onShutdown: () => {} };
  const code = await main(['node', 'trace', ...args], c);
  return { code, out: out.join('') };
}

interface Row {
  session_id: string;
  provider: string;
  round_index: number;
  prefix_tokens: number;
  newly_append_tokens: number;
  claude_uncached_input_tokens: number | null;
  claude_cache_creation_input_tokens: number | null;
  claude_cache_read_input_tokens: number | null;
  timing_events: { event_type: string; timestamp: string }[];
}

describe.skipIf(!HAS_SHARED)('TraceLab round traces', () => {
  // Read in beforeAll, not at collection: a skipped suite's body still runs, and the fixture may be absent.
  let rows: Row[] = [];
  let sessions: string[] = [];
  beforeAll(() => {
    rows = readFileSync(FILE, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Row);
    sessions = [...new Set(rows.map((r) => r.session_id))];
  });

  it('trace analyze: sessions, rounds, Claude’s recorded split exactly; tool time and user pause', async () => {
    const r = await run(['analyze', FILE, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as {
      kind: string;
      rounds: number;
      sessions: { session_id: string; rounds: number; prompt_tokens: number; claude: { uncached: number; cache_creation: number; cache_read: number } | null }[];
      tool_gaps_s: { n: number };
      user_gaps_s: { n: number };
      job: { total: { tool_ms: number; user_ms: number } };
    };
    expect(j.kind).toBe('tracelab');
    expect(j.rounds).toBe(rows.length);
    expect(j.sessions.map((s) => s.session_id).sort()).toEqual([...sessions].sort());
    for (const s of j.sessions) {
      const mine = rows.filter((x) => x.session_id === s.session_id);
      expect(s.rounds).toBe(mine.length);
      expect(s.prompt_tokens).toBe(mine.reduce((a, x) => a + x.prefix_tokens + x.newly_append_tokens, 0));
      if (mine[0]!.provider === 'claude') {
        expect(s.claude).toEqual({
          uncached: mine.reduce((a, x) => a + x.claude_uncached_input_tokens!, 0),
          cache_creation: mine.reduce((a, x) => a + x.claude_cache_creation_input_tokens!, 0),
          cache_read: mine.reduce((a, x) => a + x.claude_cache_read_input_tokens!, 0),
          hit_rate: expect.any(Number),
        });
      } else expect(s.claude).toBeNull();
    }
    // Gaps: a round is sent at its last input event and ends at its last output event; the gap before it is tool
    // time when that input was a tool result, a user pause when it was a user message.
    let tool = 0;
    let user = 0;
    let nTool = 0;
    let nUser = 0;
    for (const sid of sessions) {
      const mine = rows.filter((x) => x.session_id === sid).sort((a, b) => a.round_index - b.round_index);
      let prevEnd: number | null = null;
      for (const x of mine) {
        const ins = x.timing_events.filter((e) => e.event_type === 'user_message' || e.event_type === 'tool_result');
        const outs = x.timing_events.filter((e) => !['user_message', 'tool_result', 'usage_report'].includes(e.event_type));
        const last = ins.reduce((a, e) => (Date.parse(e.timestamp) >= Date.parse(a.timestamp) ? e : a));
        const start = Date.parse(last.timestamp);
        if (prevEnd !== null) {
          const gap = Math.max(0, (start - prevEnd) / 1000);
          if (last.event_type === 'tool_result') (tool += gap), nTool++;
          else (user += gap), nUser++;
        }
        prevEnd = Math.max(...outs.map((e) => Date.parse(e.timestamp)));
      }
    }
    expect(j.tool_gaps_s.n).toBe(nTool);
    expect(j.user_gaps_s.n).toBe(nUser);
    expect(nTool + nUser).toBe(rows.length - sessions.length);
    expect(j.job.total.tool_ms / 1000).toBeCloseTo(tool, 6);
    expect(j.job.total.user_ms / 1000).toBeCloseTo(user, 6);
    expect(nUser).toBeGreaterThan(0);
  });

  it('trace simulate: the block model from sizes, and the simulated vs recorded table per session', async () => {
    const r = await run(['simulate', FILE, '--policy', 'ideal', '--write-at', 'start', '--json']);
    const j = JSON.parse(r.out) as { source: { kind: string; corpus: { block_model: string } }; conversations: { conversation_id: string; input_tokens: number; read_tokens: number; api_hit_rate: number | null }[] };
    expect(j.source.kind).toBe('tracelab');
    expect(j.source.corpus.block_model).toMatch(/previous round/);
    for (const sid of sessions) {
      const mine = rows.filter((x) => x.session_id === sid).sort((a, b) => a.round_index - b.round_index);
      // Ideal cache, append-only prompts: each round reads the full 64-token blocks of the previous round's prompt.
      let prev = 0;
      let read = 0;
      for (const x of mine) {
        const prompt = x.prefix_tokens + x.newly_append_tokens;
        read += Math.floor(Math.min(prev, prompt) / 64) * 64;
        prev = prompt;
      }
      const c = j.conversations.find((x) => x.conversation_id === sid)!;
      expect(c.read_tokens).toBe(read);
      if (mine[0]!.provider === 'claude') {
        const rd = mine.reduce((a, x) => a + x.claude_cache_read_input_tokens!, 0);
        const ctx = mine.reduce((a, x) => a + x.claude_cache_read_input_tokens! + x.claude_uncached_input_tokens! + x.claude_cache_creation_input_tokens!, 0);
        expect(c.api_hit_rate).toBeCloseTo(rd / ctx, 12);
      } else expect(c.api_hit_rate).toBeNull();
    }
    const table = await run(['simulate', FILE, '--wide']);
    expect(table.out).toMatch(/sim hit.*API hit/);
    // One row per session (ids may be shortened by the compact table), Claude's with its recorded hit rate.
    const claude = rows.filter((x) => x.provider === 'claude');
    const rd = claude.reduce((a, x) => a + x.claude_cache_read_input_tokens!, 0);
    const ctx = claude.reduce((a, x) => a + x.claude_cache_read_input_tokens! + x.claude_uncached_input_tokens! + x.claude_cache_creation_input_tokens!, 0);
    expect(table.out).toMatch(new RegExp(`claude:.*${((rd / ctx) * 100).toFixed(1)}%`));
    expect(table.out).toMatch(/codex:/);
  });
});
