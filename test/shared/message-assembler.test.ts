import { describe, expect, it } from 'vitest';
import { MessageAssembler, toUsage } from '../../src/shared/message-assembler.js';
import { parseSse } from '../../src/shared/sse.js';
import type { StreamEvent } from '../../src/shared/anthropic.js';
import { messageEvents, replyMessage, toolUseReply, textReply } from '../helpers/fake-anthropic.js';

function assemble(events: unknown[]): MessageAssembler {
  const a = new MessageAssembler();
  for (const e of events) a.push(e as StreamEvent);
  return a;
}

const start = (usage: Record<string, number>) => ({
  type: 'message_start',
  message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x', content: [], stop_reason: null, stop_sequence: null, usage },
});

describe('MessageAssembler', () => {
  it('rebuilds text, merges usage from message_start and message_delta, reports the first content event once', () => {
    const a = new MessageAssembler();
    expect(a.push(start({ input_tokens: 10, cache_read_input_tokens: 200, cache_creation_input_tokens: 5, output_tokens: 1 }) as StreamEvent)).toBe(false);
    expect(a.push({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } })).toBe(true);
    expect(a.push({ type: 'ping' })).toBe(false);
    expect(a.push({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } })).toBe(false);
    a.push({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'lo' } });
    a.push({ type: 'content_block_stop', index: 0 });
    a.push({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 12 } });
    a.push({ type: 'message_stop' });
    const m = a.result()!;
    expect(m.id).toBe('msg_1');
    expect(m.model).toBe('claude-x');
    expect(m.content).toEqual([{ type: 'text', text: 'Hello' }]);
    expect(m.stop_reason).toBe('end_turn');
    expect(m.usage).toEqual({ input_tokens: 10, cache_read_input_tokens: 200, cache_creation_input_tokens: 5, output_tokens: 12 });
    expect(a.stopped).toBe(true);
    expect(a.hasUsage).toBe(true);
  });

  it('parses tool_use input from partial_json pieces (incl. the leading empty piece)', () => {
    const input = { file_path: '/abs/hello.txt', nested: { a: [1, 2, 'three'] } };
    const msg = replyMessage(toolUseReply('Read', input, { text: 'Reading.', id: 'toolu_1' }) as never, { model: 'm' }, 0);
    const a = new MessageAssembler();
    for (const [, data] of messageEvents(msg, 3)) a.pushData(JSON.stringify(data));
    const m = a.result()!;
    expect(m.content).toEqual([
      { type: 'text', text: 'Reading.' },
      { type: 'tool_use', id: 'toolu_1', name: 'Read', input },
    ]);
    expect(m.stop_reason).toBe('tool_use');
  });

  it('round-trips the fake upstream SSE text through parseSse + pushData', () => {
    const msg = replyMessage(textReply('ünïcode ✓ text') as never, { model: 'm' }, 3);
    const text = messageEvents(msg, 2).map(([e, d]) => `event: ${e}\ndata: ${JSON.stringify(d)}\n\n`).join('');
    const a = new MessageAssembler();
    for (const ev of parseSse(text)) a.pushData(ev.data);
    expect(a.result()).toEqual(msg);
  });

  it('keeps thinking + signature, and a tool input that never closed', () => {
    const a = assemble([
      start({ input_tokens: 1 }),
      { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'hmm ' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'ok' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'sig' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 't', name: 'Bash', input: {} } },
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"command": "l' } },
      // stream cut here
    ]);
    const m = a.result()!;
    expect(m.content[0]).toEqual({ type: 'thinking', thinking: 'hmm ok', signature: 'sig' });
    // malformed (truncated) JSON is kept as the raw string
    expect(m.content[1]).toMatchObject({ type: 'tool_use', name: 'Bash', input: '{"command": "l' });
    expect(a.stopped).toBe(false);
  });

  it('a tool_use with no input deltas gets {}', () => {
    const a = assemble([
      start({ input_tokens: 1 }),
      { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 't', name: 'X', input: {} } },
      { type: 'content_block_stop', index: 0 },
    ]);
    expect(a.result()!.content[0]).toMatchObject({ input: {} });
  });

  it('records an error event and ignores unknown events and unparseable data', () => {
    const a = new MessageAssembler();
    expect(a.pushData('not json')).toBe(false);
    expect(a.pushData('{"no":"type"}')).toBe(false);
    a.pushData(JSON.stringify(start({ input_tokens: 2 })));
    a.pushData('{"type":"something_new","x":1}');
    a.pushData('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}');
    expect(a.errorEvent).toEqual({ type: 'overloaded_error', message: 'Overloaded' });
    expect(a.result()!.content).toEqual([]);
  });

  it('message_delta carrying cumulative input/cache counts overrides message_start values', () => {
    const a = assemble([
      start({ input_tokens: 5, cache_read_input_tokens: 0, output_tokens: 1 }),
      { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 9, input_tokens: 6, cache_read_input_tokens: 100 } },
    ]);
    expect(a.result()!.usage).toEqual({ input_tokens: 6, output_tokens: 9, cache_read_input_tokens: 100, cache_creation_input_tokens: 0 });
  });

  it('no message_start → no result, hasUsage false', () => {
    const a = assemble([{ type: 'ping' }]);
    expect(a.result()).toBeUndefined();
    expect(a.hasUsage).toBe(false);
  });

  it('toUsage fills missing fields with 0 and rejects non-objects', () => {
    expect(toUsage({ input_tokens: 3 })).toEqual({ input_tokens: 3, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 });
    expect(toUsage(null)).toBeUndefined();
    expect(toUsage('x')).toBeUndefined();
  });
});
