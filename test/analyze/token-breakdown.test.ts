import { describe, expect, it } from 'vitest';
import type { MessagesRequest, TextBlock } from '../../src/shared/anthropic.js';
import type { Tokenizer } from '../../src/analyze/tokenizers/tokenizer.js';
import { getTokenizer } from '../../src/analyze/tokenizers/index.js';
import { TokenCounter } from '../../src/analyze/token-counter.js';
import { tokenBreakdown } from '../../src/analyze/token-breakdown.js';
import { analyzeRequests } from '../../src/analyze/analyze-requests.js';
import type { TraceRequest } from '../../src/shared/trace-record.js';
import { fixtureBody } from '../store/sources-fixtures.js';

function countingTokenizer(): Tokenizer & { calls: number; chars: number } {
  const base = getTokenizer('chars4');
  const t = {
    name: 'counting', description: 'chars4 that counts calls', calls: 0, chars: 0,
    encode: (s: string) => base.encode(s),
    count(s: string) {
      t.calls++;
      t.chars += s.length;
      return base.count(s);
    },
  };
  return t;
}

describe('token breakdown', () => {
  const body = fixtureBody('main-tool-result');
  it('splits tools (per tool), system (billing line dropped) and messages by role and block type; parts sum to the total', () => {
    const b = tokenBreakdown(body, new TokenCounter(getTokenizer('chars4')));
    expect(Object.keys(b.perTool).sort()).toEqual((body.tools ?? []).map((t) => t.name).sort());
    expect(Object.values(b.perTool).reduce((s, v) => s + v, 0)).toBe(b.tools);
    expect(Object.values(b.byRoleBlock).reduce((s, v) => s + v, 0)).toBe(b.messages);
    expect(b.tools + b.system + b.messages).toBe(b.total);
    expect(b.byRoleBlock['user.tool_result']).toBeGreaterThan(0);
    expect(b.byRoleBlock['assistant.tool_use']).toBeGreaterThan(0);
    const sys = (body.system as TextBlock[]).filter((s) => !s.text.startsWith('x-anthropic-billing-header'));
    expect(b.system).toBe(sys.reduce((s, x) => s + Math.ceil(x.text.length / 4), 0));
  });

  it('tokenises each distinct text once (cost follows unique content, not repeats)', () => {
    const tk = countingTokenizer();
    const counter = new TokenCounter(tk);
    const first = tokenBreakdown(body, counter);
    const calls = tk.calls;
    // A copy with moved cache_control markers is the same content: no new tokenisation.
    const again = JSON.parse(JSON.stringify(body)) as MessagesRequest;
    (again.tools![0] as { cache_control?: unknown }).cache_control = { type: 'ephemeral' };
    expect(tokenBreakdown(again, counter)).toEqual(first);
    expect(tk.calls).toBe(calls);
    expect(counter.hits).toBeGreaterThan(0);
  });

  it('analyzeRequests reports calibration = API context / our count and scaled numbers', () => {
    const mk = (id: string, b: MessagesRequest, ctx: number): TraceRequest => ({
      id, source: 'test', startedAtMs: 0, endedAtMs: 1, ttftMs: null, durationMs: 1, method: 'POST', endpoint: '/v1/messages', model: 'm',
      isStreaming: true, status: 200, userAgent: null, sessionId: 's', body: b, bodyComplete: true, response: null,
      usage: { input_tokens: ctx - 1000, cache_read_input_tokens: 600, cache_creation_input_tokens: 400, output_tokens: 3 }, stopReason: null, messageId: null, error: null,
    });
    const r = analyzeRequests([mk('a', fixtureBody('main-tool-first'), 30000), mk('b', body, 31000)], { tokenizer: getTokenizer('chars4') });
    const c = r.breakdown!.calibration;
    // Our count, independently: chars4 over each body's prompt segments, one body at a time.
    const one = (b: MessagesRequest) => tokenBreakdown(b, new TokenCounter(getTokenizer('chars4')));
    const ours = one(fixtureBody('main-tool-first')).total + one(body).total;
    const toolsOurs = one(fixtureBody('main-tool-first')).tools + one(body).tools;
    expect(c.requests).toBe(2);
    expect(c.apiContext).toBe(61000); // 30000 + 31000, the usage given above
    expect(c.ours).toBe(ours);
    expect(c.ratio).toBeCloseTo(61000 / ours, 12);
    // Scaled numbers are our shares of the API's context: every request is calibrated, so the total is the API's.
    const s = r.breakdown!.scaled!;
    expect(s.total).toBe(61000);
    expect(Math.abs(s.tools + s.system + s.messages - 61000)).toBeLessThanOrEqual(1.5);
    expect(Math.abs(s.tools - (61000 * toolsOurs) / ours)).toBeLessThanOrEqual(0.5);
    expect(Object.isFrozen(r)).toBe(true);
  });
});

describe('memoised segments', () => {
  it('yield exactly promptSegments() texts and order, and equal texts share one id', async () => {
    const { SegmentMemo } = await import('../../src/analyze/segment-memo.js');
    const { promptSegments } = await import('../../src/analyze/normalize.js');
    const memo = new SegmentMemo();
    for (const name of ['main-text', 'main-tool-first', 'main-tool-result', 'subagent', 'title-haiku']) {
      const body = fixtureBody(name);
      const a = [...memo.segments(body)].map((s) => [s.kind, s.name ?? s.role ?? null, s.entry.text]);
      const b = promptSegments(body).map((s) => [s.kind, s.kind === 'tool' ? s.name : (s.role ?? null), s.text]);
      expect(a).toEqual(b);
    }
    // A non-text system block (a document) has no `text`: both give it its stable JSON, and it counts.
    const withDoc = { ...fixtureBody('main-text'), system: [{ type: 'text', text: 'You are helpful.' }, { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'the spec' } }] } as never;
    const docA = [...memo.segments(withDoc)].filter((s) => s.kind === 'system').map((s) => s.entry.text);
    const docB = promptSegments(withDoc).filter((s) => s.kind === 'system').map((s) => s.text);
    expect(docA).toEqual(docB);
    expect(docB[1]).toContain('"data":"the spec"');
    const x = [...memo.segments(fixtureBody('main-tool-first'))];
    const y = [...memo.segments(fixtureBody('main-tool-result'))];
    expect(y[0]!.entry.id).toBe(x[0]!.entry.id);
  });
});
