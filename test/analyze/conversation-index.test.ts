import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ContentBlock, MessageParam, MessagesRequest, Usage } from '../../src/shared/anthropic.js';
import type { TraceRequest } from '../../src/shared/trace-record.js';
import { Interner, extractFacts } from '../../src/analyze/request-facts.js';
import { buildConversationIndex } from '../../src/analyze/conversation-index.js';
import { openDb } from '../../src/store/db.js';
import { readConversationIndex, readConversationIndexMeta, writeConversationIndex } from '../../src/store/conversation-index-repo.js';
import { tmp } from '../store/sources-fixtures.js';

const dir = tmp('conv-index');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MAIN_SYS = [{ type: 'text' as const, text: 'x-anthropic-billing-header: cc_version=1; cc_entrypoint=cli;' }, { type: 'text' as const, text: 'You are the main agent.' }];
const SUB_SYS = [{ type: 'text' as const, text: 'x-anthropic-billing-header: cc_version=1; cc_is_subagent=true;' }, { type: 'text' as const, text: 'You are a sub-agent.' }];
const TOOLS = [{ name: 'Agent', input_schema: {} }, { name: 'Read', input_schema: {} }];
const SUB_TOOLS = [{ name: 'Read', input_schema: {} }];
const usage = (read: number): Usage => ({ input_tokens: 5, cache_read_input_tokens: read, cache_creation_input_tokens: 10, output_tokens: 7 });

let n = 0;
function req(p: { messages: MessageParam[]; system?: MessagesRequest['system']; tools?: MessagesRequest['tools']; start: number; dur?: number; response?: ContentBlock[]; stream?: boolean; session?: string; endpoint?: string; error?: string; max_tokens?: number }): TraceRequest {
  const id = `r${++n}`;
  const body: MessagesRequest = {
    model: 'claude-test',
    messages: p.messages,
    system: p.system ?? MAIN_SYS,
    tools: p.tools ?? TOOLS,
    metadata: { user_id: JSON.stringify({ session_id: p.session ?? 'S1' }) },
    ...(p.max_tokens ? { max_tokens: p.max_tokens } : {}),
  };
  return {
    id, source: 'test', startedAtMs: p.start, endedAtMs: p.start + (p.dur ?? 1000), ttftMs: 100, durationMs: p.dur ?? 1000,
    method: 'POST', endpoint: p.endpoint ?? '/v1/messages', model: 'claude-test', isStreaming: p.stream ?? true, status: p.error ? 500 : 200,
    userAgent: null, sessionId: p.session ?? 'S1', body, bodyComplete: true,
    response: p.response ? { id: `msg_${id}`, type: 'message', role: 'assistant', model: 'claude-test', content: p.response, stop_reason: 'end_turn', stop_sequence: null, usage: usage(0) } : null,
    usage: p.response ? usage(100) : null, stopReason: null, messageId: p.response ? `msg_${id}` : null, error: p.error ?? null,
  };
}

function index(rs: TraceRequest[]) {
  const interner = new Interner();
  return buildConversationIndex(rs.map((r) => extractFacts(r, { interner })));
}

describe('structural conversation index', () => {
  const prompt = 'Read hello.txt and report its exact contents.';
  const u1: MessageParam = { role: 'user', content: [{ type: 'text', text: 'Please delegate', cache_control: { type: 'ephemeral' } }] };
  const a1: ContentBlock[] = [{ type: 'tool_use', id: 'tu_agent', name: 'Agent', input: { prompt, description: 'read' } }];
  // The marked single text block later turns into a plain string and the marker moves: still the same prefix.
  const u1plain: MessageParam = { role: 'user', content: 'Please delegate' };
  const subFirst: MessageParam = { role: 'user', content: [{ type: 'text', text: '<system-reminder>ctx</system-reminder>' }, { type: 'text', text: prompt }] };
  const subA1: ContentBlock[] = [{ type: 'tool_use', id: 'tu_read', name: 'Read', input: { file_path: 'hello.txt' } }];
  const main1 = req({ messages: [u1], start: 0, response: a1 });
  const sub1 = req({ messages: [subFirst], system: SUB_SYS, tools: SUB_TOOLS, start: 1500, response: subA1 });
  const sub2 = req({ messages: [subFirst, { role: 'assistant', content: subA1 }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu_read', content: 'hello', cache_control: { type: 'ephemeral' } }] }], system: SUB_SYS, tools: SUB_TOOLS, start: 3000, response: [{ type: 'text', text: 'It says hello' }] });
  const title = req({ messages: [{ role: 'user', content: 'Who are you?' }], system: [{ type: 'text', text: 'Generate a concise, sentence-case title for this conversation' }], tools: [], start: 200, response: [{ type: 'text', text: '{"title":"x"}' }] });
  const quota = req({ messages: [{ role: 'user', content: 'quota' }], tools: [], start: 100, max_tokens: 1, response: [{ type: 'text', text: 'ok' }] });
  const mainMsgs: MessageParam[] = [u1plain, { role: 'assistant', content: a1 }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu_agent', content: 'It says hello', cache_control: { type: 'ephemeral' } }] }];
  const main2broken = req({ messages: mainMsgs, start: 6000, dur: 500, stream: true, error: 'stream broke' });
  const main2retry = req({ messages: mainMsgs, start: 7000, stream: false, response: [{ type: 'text', text: 'Done' }] });
  const other = req({ messages: [{ role: 'user', content: 'unrelated' }], session: 'S2', start: 9000, response: [{ type: 'text', text: 'hi' }] });
  const all = [main1, sub1, sub2, title, quota, main2broken, main2retry, other];
  const idx = index([...all].reverse()); // input order must not matter: the index sorts chronologically
  const by = (r: TraceRequest) => idx.requests.find((x) => x.id === r.id)!;

  it('links append-only growth across moved cache_control markers and string ≡ single text block', () => {
    expect(by(main2retry).agentId).toBe(by(main1).agentId);
    expect(by(main2broken)).toMatchObject({ agentId: by(main1).agentId, turnIndex: 1, parentRequestId: main1.id, linkedBy: 'prefix' });
    expect(by(sub2)).toMatchObject({ agentId: by(sub1).agentId, turnIndex: 1, parentRequestId: sub1.id });
  });

  it('detects the sub-agent from the Agent tool_use prompt, with its parent and spawning request', () => {
    expect(by(sub1)).toMatchObject({ isSubagent: true, parentAgentId: by(main1).agentId, spawnedByRequestId: main1.id, linkedBy: 'spawn', conversationId: 'S1' });
    expect(idx.agents.filter((a) => a.isSubagent)).toHaveLength(1);
  });

  it('marks the non-streaming resend after a broken stream as a stream-retry duplicate', () => {
    expect(by(main2retry)).toMatchObject({ duplicateOf: main2broken.id, duplicateKind: 'stream-retry', turnIndex: 1 });
    expect(by(main2broken).kind).toBe('error');
  });

  it('puts title and quota requests into their session as side requests', () => {
    expect(by(title)).toMatchObject({ side: 'title', kind: 'side', conversationId: 'S1', agentId: 'S1/side' });
    expect(by(quota)).toMatchObject({ side: 'quota', kind: 'side', conversationId: 'S1' });
  });

  it('computes think time (gap after the previous response of the same agent) and api time', () => {
    expect(by(sub2).thinkTimeMs).toBe(3000 - 2500);
    expect(by(main2broken).thinkTimeMs).toBe(6000 - 1000);
    expect(by(sub2).apiTimeMs).toBe(1000);
    expect(by(main1).thinkTimeMs).toBeNull();
  });

  it('starts a new conversation for an unrelated session; results are frozen', () => {
    expect(by(other)).toMatchObject({ conversationId: 'S2', linkedBy: 'new', isSubagent: false });
    expect(idx.conversations.map((c) => c.conversationId).sort()).toEqual(['S1', 'S2']);
    expect(Object.isFrozen(idx.requests)).toBe(true);
    expect(Object.isFrozen(idx.requests[0])).toBe(true);
  });

  it('is stored idempotently in conversation_index (rebuilding gives the same rows)', () => {
    const db = openDb(join(dir, 'idx.db'));
    expect(writeConversationIndex(db, idx.requests, { builtAt: '2026-01-01T00:00:00Z', requestCount: idx.requests.length, linking: 'structural' })).toBe(true);
    const first = [...readConversationIndex(db).values()];
    // An identical rebuild writes nothing (so analysing a committed example DB leaves the file untouched).
    expect(writeConversationIndex(db, index(all).requests, { builtAt: '2026-01-02T00:00:00Z', requestCount: all.length, linking: 'structural' })).toBe(false);
    const second = [...readConversationIndex(db).values()];
    expect(second).toHaveLength(all.length);
    expect(second.sort((a, b) => a.id.localeCompare(b.id))).toEqual(first.sort((a, b) => a.id.localeCompare(b.id)));
    expect(second.find((r) => r.id === sub1.id)).toEqual({ ...by(sub1) });
    expect(readConversationIndexMeta(db)).toEqual({ builtAt: '2026-01-01T00:00:00Z', requestCount: all.length, linking: 'structural' });
    // A changed index is rewritten.
    expect(writeConversationIndex(db, idx.requests.slice(1), { builtAt: '2026-01-03T00:00:00Z', requestCount: idx.requests.length - 1, linking: 'structural' })).toBe(true);
    expect(readConversationIndex(db).size).toBe(idx.requests.length - 1);
    db.close();
  });
});

describe('nested sub-agents given the same prompt (byte-identical bodies)', () => {
  // Greedy decoding can make every level of a sub-agent chain call Agent with the same prompt, so levels 2..n
  // send byte-identical bodies. They are new agents (the previous one answered with a tool call, which the client
  // runs rather than resends), each spawned by the level above — not resends.
  const prompt = 'Look into the repository layout';
  const agentCall = (id: string): ContentBlock[] => [{ type: 'tool_use', id, name: 'Agent', input: { prompt, description: 'look' } }];
  const first: MessageParam = { role: 'user', content: prompt };
  const main = req({ messages: [{ role: 'user', content: 'go' }], start: 0, session: 'N1', response: agentCall('tu_0') });
  const l1 = req({ messages: [first], system: SUB_SYS, start: 1000, session: 'N1', response: agentCall('tu_1') });
  const l2 = req({ messages: [first], system: SUB_SYS, start: 2000, session: 'N1', response: agentCall('tu_2') });
  const l3 = req({ messages: [first], system: SUB_SYS, tools: SUB_TOOLS, start: 3000, session: 'N1', response: [{ type: 'text', text: 'done' }] });
  const idx = index([main, l1, l2, l3]);
  const row = (r: TraceRequest) => idx.requests.find((x) => x.id === r.id)!;

  it('chains the parents level by level and marks none of them as duplicates', () => {
    expect([l1, l2, l3].map((r) => row(r).duplicateOf)).toEqual([null, null, null]);
    const agentOf = (r: TraceRequest) => idx.agents.find((a) => a.agentId === row(r).agentId)!;
    expect(new Set([main, l1, l2, l3].map((r) => row(r).agentId)).size).toBe(4);
    expect(agentOf(l1).parentAgentId).toBe(row(main).agentId);
    expect(agentOf(l2).parentAgentId).toBe(row(l1).agentId);
    expect(agentOf(l3).parentAgentId).toBe(row(l2).agentId);
    expect(agentOf(l3).spawnedByRequestId).toBe(l2.id);
  });

  it('still marks a resend of an unanswered request as a duplicate', () => {
    const broken = req({ messages: [{ role: 'user', content: 'hello again' }], start: 10_000, dur: 300, session: 'N2', error: 'stream broke' });
    const resend = req({ messages: [{ role: 'user', content: 'hello again' }], start: 11_000, session: 'N2', stream: false, response: [{ type: 'text', text: 'hi' }] });
    const i2 = index([broken, resend]);
    expect(i2.requests.find((x) => x.id === resend.id)!.duplicateOf).toBe(broken.id);
  });
});

