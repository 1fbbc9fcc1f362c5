import { describe, expect, it } from 'vitest';
import type { MessagesRequest } from '../../src/shared/anthropic.js';
import { chars4Tokenizer } from '../../src/analyze/tokenizers/chars4.js';
import { ApiCacheModel } from '../../src/synth/api-cache-model.js';

const tools = [{ name: 'Read', description: 'r'.repeat(8000), input_schema: { type: 'object' } }];
const cc = { type: 'ephemeral' as const };

function body(billing: string, prompt: string, model = 'm1'): MessagesRequest {
  return {
    model,
    tools,
    system: [
      { type: 'text', text: `x-anthropic-billing-header: cc_version=1.${billing};` },
      { type: 'text', text: 'system prompt '.repeat(50), cache_control: cc },
    ],
    messages: [{ role: 'user', content: [{ type: 'text', text: prompt, cache_control: cc }] }],
  };
}

const model = () => new ApiCacheModel({ tokenizer: chars4Tokenizer, ttlMs: 300_000 });

describe('synth ApiCacheModel (the generator’s model of the API cache)', () => {
  it('splits context into input + read + creation, and a prefix is readable only once its prefill has ended', () => {
    const m = model();
    const a = m.lookup(body('aaa', 'first question '.repeat(100)), 0);
    expect(a.usage.cache_read_input_tokens).toBe(0);
    expect(a.usage.cache_creation_input_tokens).toBe(a.contextTokens);
    expect(a.usage.input_tokens).toBe(0);
    m.commit(a, 1_000); // prefill ends at t = 1 s
    // A second conversation (different billing line) sent before that: misses.
    const early = m.lookup(body('bbb', 'other question '.repeat(100)), 500);
    expect(early.usage.cache_read_input_tokens).toBe(0);
    // Sent after it: reads the shared tools + system (the billing line is not part of the key).
    const late = m.lookup(body('ccc', 'third question '.repeat(100)), 2_000);
    expect(late.usage.cache_read_input_tokens).toBeGreaterThan(2000);
    expect(late.usage.cache_read_input_tokens).toBeLessThan(late.contextTokens);
    const sum = late.usage.input_tokens + late.usage.cache_read_input_tokens + late.usage.cache_creation_input_tokens;
    expect(sum).toBe(late.contextTokens);
  });

  it('entries expire after the TTL unless a read refreshes them; caches are per model', () => {
    const m = model();
    const first = m.lookup(body('a', 'q '.repeat(600)), 0);
    m.commit(first, 100);
    expect(m.lookup(body('a', 'q '.repeat(600), 'm2'), 1_000).usage.cache_read_input_tokens).toBe(0);
    // read at 200 s refreshes the entry to 500 s
    expect(m.lookup(body('a', 'q '.repeat(600)), 200_000).usage.cache_read_input_tokens).toBe(first.contextTokens);
    expect(m.lookup(body('a', 'q '.repeat(600)), 450_000).usage.cache_read_input_tokens).toBe(first.contextTokens);
    // no read between 450 s and 800 s: expired
    expect(m.lookup(body('a', 'q '.repeat(600)), 800_000).usage.cache_read_input_tokens).toBe(0);
  });

  it('prefixes below the minimum cacheable length are not written', () => {
    const m = new ApiCacheModel({ tokenizer: chars4Tokenizer, minCacheableTokens: 1_000_000 });
    const a = m.lookup(body('a', 'short'), 0);
    expect(a.usage.cache_creation_input_tokens).toBe(0);
    expect(a.usage.input_tokens).toBe(a.contextTokens);
    m.commit(a, 10);
    expect(m.lookup(body('a', 'short'), 100).usage.cache_read_input_tokens).toBe(0);
  });
});
