/**
 * Job-level metrics: a trace with known tool and user gaps, replayed with an injected clock against a fake server
 * that answers every request in exactly 200 ms. Expected numbers are worked out by hand below.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/shared/clock.js';
import { planFromTraceRequests } from '../../src/replay/plan.js';
import { capIdleGaps } from '../../src/replay/plan-transforms.js';
import { runReplay } from '../../src/replay/runner.js';
import { anthropicBackend } from '../../src/replay/backends/anthropic.js';
import { analyzeRequests } from '../../src/analyze/analyze-requests.js';
import { splitJob } from '../../src/analyze/job-split.js';
import type { TraceRequest } from '../../src/shared/trace-record.js';
import type { MessageParam } from '../../src/shared/anthropic.js';
import { createFakeAnthropic, textReply } from '../helpers/fake-anthropic.js';
import { drive, handlerFetch } from './helpers.js';

const sys = [{ type: 'text' as const, text: 'You are a coding agent.' }];
const tools = [{ name: 'Read', description: 'read a file', input_schema: { type: 'object' } }];
const u = (text: string): MessageParam => ({ role: 'user', content: [{ type: 'text', text }] });
const a = (id: string): MessageParam => ({ role: 'assistant', content: [{ type: 'tool_use', id, name: 'Read', input: { file_path: '/x' } }] });
const tr = (id: string): MessageParam => ({ role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: 'ok' }] });
const say = (text: string): MessageParam => ({ role: 'assistant', content: [{ type: 'text', text }] });

function req(id: string, startedAtMs: number, apiMs: number, messages: MessageParam[]): TraceRequest {
  return {
    source: 'test', id, startedAtMs, endedAtMs: startedAtMs + apiMs, ttftMs: 100, durationMs: apiMs, method: 'POST', endpoint: '/v1/messages',
    model: 'claude-x', isStreaming: true, status: 200, userAgent: null, sessionId: 's1',
    body: { model: 'claude-x', system: sys, tools, max_tokens: 8, messages },
    bodyComplete: true, response: null, usage: { input_tokens: 10, output_tokens: 4, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
    stopReason: 'end_turn', messageId: null, error: null,
  } as TraceRequest;
}

// r0 0–1000 (user asks) · tool 2000 · r1 3000–4500 (tool_result) · user pause 10000 · r2 14500–15000 (new user text)
// · tool 500 · r3 15500–16500 (tool_result). Recorded: completion 16500 = model 1000+1500+500+1000 = 4000
// + tool 2000+500 = 2500 + user 10000.
const m0 = [u('fix the bug')];
const m1 = [...m0, a('t1'), tr('t1')];
const m2 = [...m1, say('done'), u('now add a test')];
const m3 = [...m2, a('t2'), tr('t2')];
const trace = [req('r0', 0, 1000, m0), req('r1', 3000, 1500, m1), req('r2', 14500, 500, m2), req('r3', 15500, 1000, m3)];

async function replay(plan = planFromTraceRequests(trace, 'jobs', 'test')) {
  const clock = new ManualClock(0);
  const fake = createFakeAnthropic({ clock, script: () => textReply('ok', { delayMs: 200 }) });
  return drive(
    clock,
    runReplay({
      plan, backend: anthropicBackend, endpoint: 'http://fake.local', apiKey: 'k', model: 'm', timing: 'think', speed: 1, content: 'recorded',
      maxConcurrency: 4, maxTokens: 4, slo: { ttftS: null, tpotS: null }, clock, fetch: handlerFetch(fake.handler),
      config: { source: 't', source_kind: 'test', conversation: null, label: null, api: 'anthropic' },
    }),
  );
}

describe('job-level metrics', () => {
  it('splitJob: overlapping requests count once as model time; gaps by the kind of the request after them', () => {
    expect(splitJob([
      { startMs: 0, endMs: 1000, gapKind: 'user' },
      { startMs: 500, endMs: 2000, gapKind: 'other' }, // concurrent sub-agent: no gap
      { startMs: 2500, endMs: 3000, gapKind: 'tool' },
      { startMs: 4000, endMs: 4100, gapKind: 'user' },
    ])).toEqual({ requests: 4, completion_ms: 4100, model_ms: 2600, tool_ms: 500, user_ms: 1000, other_ms: 0 });
  });

  it('trace analyze shows the recorded split', () => {
    const r = analyzeRequests(trace);
    expect(r.jobs.total).toEqual({ requests: 4, completion_ms: 16500, model_ms: 4000, tool_ms: 2500, user_ms: 10000, other_ms: 0 });
  });

  it('replayed vs recorded per session and agent with an injected clock (server answers in 200 ms)', async () => {
    const res = await replay();
    expect(res.summary.requests.ok).toBe(4);
    const j = res.summary.jobs;
    expect(j.recorded.total).toEqual({ requests: 4, completion_ms: 16500, model_ms: 4000, tool_ms: 2500, user_ms: 10000, other_ms: 0 });
    // replayed: sent 0 → ends 200; +2000 tool → 2200–2400; +10000 user → 12400–12600; +500 tool → 13100–13300
    expect(j.replayed.total).toEqual({ requests: 4, completion_ms: 13300, model_ms: 800, tool_ms: 2500, user_ms: 10000, other_ms: 0 });
    expect(j.replayed.sessions).toHaveLength(1);
    expect(j.replayed.agents).toHaveLength(1);
    expect(j.replayed.agents[0]!.completion_ms).toBe(13300);
    expect(j.sessions_per_hour).toBeCloseTo(3_600_000 / 13300, 6);
    expect(j.recorded_sessions_per_hour).toBeCloseTo(3_600_000 / 16500, 6);
  });

  it('--idle-gap-cap 3 s caps the user pause (10 s → 3 s), tool gaps under the cap stay', async () => {
    const res = await replay(capIdleGaps(planFromTraceRequests(trace, 'jobs', 'test'), 3000));
    expect(res.summary.jobs.replayed.total).toEqual({ requests: 4, completion_ms: 6300, model_ms: 800, tool_ms: 2500, user_ms: 3000, other_ms: 0 });
  });
});
