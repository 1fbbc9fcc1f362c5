import { describe, expect, it } from 'vitest';
import { filterConversation, planFromBlocks, planFromTraceRequests } from '../../src/replay/plan.js';
import type { TraceRequest } from '../../src/shared/trace-record.js';
import { blk } from './helpers.js';

function tr(p: Partial<TraceRequest> & { id: string; startedAtMs: number }): TraceRequest {
  return {
    source: 'test', endedAtMs: p.startedAtMs + 1000, ttftMs: 200, durationMs: 1000, method: 'POST', endpoint: '/v1/messages',
    model: 'claude-x', isStreaming: true, status: 200, userAgent: null, sessionId: 's1',
    body: { model: 'claude-x', system: [{ type: 'text', text: 'main system' }], messages: [{ role: 'user', content: 'hi' }] },
    bodyComplete: true, response: null, usage: { input_tokens: 5, output_tokens: 7, cache_read_input_tokens: 100, cache_creation_input_tokens: 0 },
    stopReason: 'end_turn', messageId: null, error: null, ...p,
  };
}

describe('replay planning', () => {
  it('--conversation keeps one conversation and re-bases its offsets', () => {
    const plan = planFromBlocks(
      [blk({ id: 'a0', t: 10, conversationId: 'conv-a' }), blk({ id: 'b0', t: 20, conversationId: 'conv-b' }), blk({ id: 'b1', t: 25, conversationId: 'conv-b', thinkTime: 4 })],
      't',
      'test',
    );
    const only = filterConversation(plan, 'conv-b');
    expect(only.requests.map((r) => [r.id, r.offsetMs, r.index])).toEqual([['b0', 0, 0], ['b1', 5000, 1]]);
    expect(only.requests[1]!.deps).toEqual(['b0']);
    expect(only.requests[1]!.delayMs).toBe(4000);
    expect(filterConversation(plan, 'conv-a').requests.map((r) => r.id)).toEqual(['a0']);
    expect(() => filterConversation(plan, 'conv')).toThrow(/ambiguous/);
    expect(() => filterConversation(plan, 'nope')).toThrow(/no conversation/);
  });

  it('content records: think time = start − previous end in the same agent; count_tokens skipped; recorded usage kept', () => {
    const sub = { model: 'claude-x', system: [{ type: 'text' as const, text: 'sub-agent system' }], messages: [{ role: 'user' as const, content: 'task' }] };
    const plan = planFromTraceRequests(
      [
        tr({ id: 'm0', startedAtMs: 1000 }),
        tr({ id: 'ct', startedAtMs: 1500, endpoint: '/v1/messages/count_tokens' }),
        tr({ id: 'x0', startedAtMs: 2500, body: sub }),
        tr({ id: 'm1', startedAtMs: 5000 }),
      ],
      't',
      'test',
    );
    expect(plan.requests.map((r) => r.id)).toEqual(['m0', 'x0', 'm1']);
    const m1 = plan.requests.find((r) => r.id === 'm1')!;
    expect(m1.deps).toEqual(['m0']);
    expect(m1.delayMs).toBe(3000); // started 5000, previous ended 2000
    expect(m1.offsetMs).toBe(4000);
    expect(plan.requests.find((r) => r.id === 'x0')!.agentKey).not.toBe(m1.agentKey);
    expect(m1.recorded).toMatchObject({ ttftMs: 200, apiMs: 1000, promptTokens: 105, outputTokens: 7, cacheReadTokens: 100, thinkMs: 3000 });
    expect(plan.recordedWallMs).toBe(5000);
  });
});
