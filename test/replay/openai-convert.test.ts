import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { anthropicToOpenAI } from '../../src/shared/openai-request.js';
import type { MessagesRequest } from '../../src/shared/anthropic.js';
import { FIXTURES, HAS_SHARED } from '../helpers/paths.js';

describe('Anthropic → OpenAI conversion', () => {
  it('maps system, text/image parts, tool_use → tool_calls, tool_result → tool messages, tools → functions', () => {
    const body: MessagesRequest = {
      model: 'x',
      max_tokens: 100,
      system: [{ type: 'text', text: 'sys A' }, { type: 'text', text: 'sys B', cache_control: { type: 'ephemeral' } }],
      tools: [{ name: 'Read', description: 'read a file', input_schema: { type: 'object', properties: { path: { type: 'string' } } } }],
      tool_choice: { type: 'any' },
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'hmm', signature: 's' }, { type: 'text', text: 'reading' }, { type: 'tool_use', id: 'tu1', name: 'Read', input: { path: '/a' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu1', content: [{ type: 'text', text: 'file body' }] }, { type: 'text', text: 'and?' }] },
        { role: 'system', content: 'inline system note' },
      ],
    };
    const o = anthropicToOpenAI(body);
    expect(o.messages).toEqual([
      { role: 'system', content: 'sys A\n\nsys B' },
      { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] },
      { role: 'assistant', content: 'reading', tool_calls: [{ id: 'tu1', type: 'function', function: { name: 'Read', arguments: '{"path":"/a"}' } }] },
      { role: 'tool', tool_call_id: 'tu1', content: 'file body' },
      { role: 'user', content: 'and?' },
      { role: 'system', content: 'inline system note' },
    ]);
    expect(o.tools).toEqual([{ type: 'function', function: { name: 'Read', description: 'read a file', parameters: body.tools![0]!.input_schema } }]);
    expect(o.tool_choice).toBe('required');
    expect(o).toMatchObject({ model: 'x', max_tokens: 100, stream: true, stream_options: { include_usage: true } });
  });

  it.skipIf(!HAS_SHARED)('converts a real Claude Code tool-loop request (../shared fixture) losslessly in structure', () => {
    const body = JSON.parse(readFileSync(join(FIXTURES, 'claude-code', 'main-tool-result-2.1.197.json'), 'utf8')) as MessagesRequest;
    const o = anthropicToOpenAI(body);
    expect(o.tools).toHaveLength(body.tools!.length);
    for (const [i, t] of body.tools!.entries()) expect(o.tools![i]!.function.name).toBe(t.name);
    const calls = o.messages.flatMap((m) => (m.role === 'assistant' ? (m.tool_calls ?? []) : []));
    const results = o.messages.filter((m) => m.role === 'tool');
    expect(calls.length).toBeGreaterThan(0);
    expect(results.map((r) => (r as { tool_call_id: string }).tool_call_id)).toEqual(calls.map((c) => c.id));
    // the tool message directly follows the assistant turn that called it
    const ai = o.messages.findIndex((m) => m.role === 'assistant' && m.tool_calls);
    expect(o.messages[ai + 1]!.role).toBe('tool');
    expect(o.messages[0]!.role).toBe('system');
    expect(o.messages.filter((m) => m.role === 'system').length).toBe(2); // system prompt + the inline role:"system" message
    expect(JSON.stringify(o)).not.toContain('cache_control');
  });
});
