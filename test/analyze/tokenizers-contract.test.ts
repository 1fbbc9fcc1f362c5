/** Shared contract every registered tokenizer passes, plus a few facts specific to each. */
import { describe, expect, it } from 'vitest';
import { TOKENIZERS, getTokenizer } from '../../src/analyze/tokenizers/index.js';
import { countTokens as anthropicCount } from '@anthropic-ai/tokenizer';
import { countTokens as o200kCount } from 'gpt-tokenizer/encoding/o200k_base';

const SAMPLES = ['', 'Hello, world!', 'function add(a, b) {\n  return a + b;\n}\n', 'Numbers 1234567890 and ünïcödé — 日本語', ' '.repeat(50) + 'x'];

describe.each(Object.keys(TOKENIZERS))('tokenizer contract: %s', (name) => {
  const t = getTokenizer(name);
  it('is registered under its own name and deterministic', () => {
    expect(t.name).toBe(name);
    expect(t.description.length).toBeGreaterThan(0);
    for (const s of SAMPLES) expect(Array.from(t.encode(s))).toEqual(Array.from(t.encode(s)));
  });
  it('count(text) === encode(text).length, 0 for empty text, monotone under concatenation', () => {
    for (const s of SAMPLES) expect(t.count(s)).toBe(t.encode(s).length);
    expect(t.count('')).toBe(0);
    const a = SAMPLES[2]!;
    expect(t.count(a + a)).toBeGreaterThan(t.count(a));
  });
});

describe('tokenizer specifics', () => {
  it('claude matches @anthropic-ai/tokenizer', () => {
    for (const s of SAMPLES) expect(getTokenizer('claude').count(s)).toBe(anthropicCount(s));
  });
  it('o200k matches gpt-tokenizer o200k_base', () => {
    for (const s of SAMPLES.slice(0, 3)) expect(getTokenizer('o200k').count(s)).toBe(o200kCount(s));
  });
  it('qwen3 (approximation) emits one token per digit', () => {
    const q = getTokenizer('qwen3');
    expect(q.count('1234567890')).toBe(10);
    expect(q.count('abc 12')).toBe(getTokenizer('o200k').count('abc ') + 2);
  });
  it('chars4 is ceil(length / 4)', () => {
    expect(getTokenizer('chars4').count('abcde')).toBe(2);
  });
});
