/** Shared contract every registered tokenizer passes, plus a few facts specific to each. */
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, HAS_SHARED } from '../helpers/paths.js';
import { TOKENIZERS, getTokenizer } from '../../src/analyze/tokenizers/index.js';
import { MAX_CHUNK, MAX_RUN, textChunks } from '../../src/analyze/tokenizers/chunk.js';
import { countTokens as anthropicCount, getTokenizer as anthropicTokenizer } from '@anthropic-ai/tokenizer';
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
  it('claude count (piece-cached fast path) equals the library on real Claude Code bodies, edge cases and random text', () => {
    const t = getTokenizer('claude');
    const texts = ['a  b', 'x\u0085y\u2028z', '\ufeffhello', "it's they'll I'M 's", 'a<EOT>b<META_START>c<META><META_END><SOS>', '<EO', '日本語 テキスト', '🚀🚀 emoji', ' \n\n  \t x', 'e\u0301 café ﬁ', '1234567 89', 'foo   ', '   ', 'a\r\n\r\nb'];
    if (HAS_SHARED) {
      const dir = join(FIXTURES, 'claude-code');
      for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
        const raw = readFileSync(join(dir, f), 'utf8');
        texts.push(raw);
        const b = JSON.parse(raw) as { messages?: unknown[]; system?: { text?: string }[]; tools?: unknown[] };
        for (const m of b.messages ?? []) texts.push(JSON.stringify(m));
        for (const x of b.system ?? []) texts.push(x.text ?? '');
        for (const x of b.tools ?? []) texts.push(JSON.stringify(x, null, 1));
      }
    }
    const alphabet = ['a', 'Z', 'é', 'ß', '1', '٣', ' ', '  ', '\n', '\t', "'", "'s", '.', '{', '"', '\u00a0', '\u3000', '中', '🚀', '<EOT>', '<', '>', 'META', '\u0301', '\ufeff'];
    let x = 7;
    for (let i = 0; i < 300; i++) {
      let s = '';
      const len = 1 + (i % 40);
      for (let k = 0; k < len; k++) s += alphabet[(x = (Math.imul(x, 1103515245) + 12345) >>> 0) % alphabet.length];
      texts.push(s);
    }
    const lib = anthropicTokenizer(); // what countTokens() does, without rebuilding the encoder per call
    for (const s of texts) expect([s, t.count(s)]).toEqual([s, lib.encode(s.normalize('NFKC'), 'all').length]);
    lib.free();
    expect(texts.length).toBeGreaterThan(300);
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

describe('bounded cost per text (issue 15, defect 2): long texts are counted in chunks', () => {
  const oneChar = 'A'.repeat(1 << 20);
  it('textChunks: covers the text exactly, chunks ≤ MAX_CHUNK, no stretch longer than MAX_RUN without a cut', () => {
    expect(textChunks('short')).toEqual(['short']);
    const runs = textChunks(oneChar);
    expect(runs.join('')).toBe(oneChar);
    expect(runs).toHaveLength((1 << 20) / MAX_RUN);
    const prose = 'The quick brown fox, jumps over the lazy dog.\n'.repeat(2000);
    const cs = textChunks(prose);
    expect(cs.join('')).toBe(prose);
    for (const c of cs) expect(c.length).toBeLessThanOrEqual(MAX_CHUNK);
    // cuts fall before a space (never inside a word): every chunk after the first starts with one
    for (const c of cs.slice(1)) expect(c[0]).toBe(' ');
    const emoji = '🚀'.repeat(MAX_CHUNK); // surrogate pairs are never split
    for (const c of textChunks(emoji)) expect(c.length % 2).toBe(0);
  });
  describe.each(Object.keys(TOKENIZERS))('%s', (name) => {
    const t = getTokenizer(name);
    const raw = TOKENIZERS[name]!(); // the unwrapped tokenizer
    it('1 MB of one character counts without a trap, equal to the sum of the raw tokenizer over the chunks', () => {
      const n = t.count(oneChar);
      const expected = raw.linear ? raw.count(oneChar) : textChunks(oneChar).reduce((s, c) => s + raw.count(c), 0);
      expect(n).toBe(expected);
      expect(n).toBeGreaterThan(0);
      expect(t.encode(oneChar).length).toBe(n);
    });
    it('a 3 MB response of ordinary text counts the same chunked as unchunked', () => {
      const text = 'The quick brown fox, jumps over the lazy dog: 42 times.\n'.repeat(3 * 18_000);
      const line = 'The quick brown fox, jumps over the lazy dog: 42 times.\n';
      expect(t.count(text)).toBe(raw.count(line) * 3 * 18_000);
    });
  });
  it('o200k: real Claude Code bodies (> MAX_CHUNK) count exactly as gpt-tokenizer does on the whole text', () => {
    if (!HAS_SHARED) return;
    const dir = join(FIXTURES, 'claude-code');
    const bodies = readdirSync(dir)
      .filter((x) => x.endsWith('.json'))
      .map((f) => [f, readFileSync(join(dir, f), 'utf8')] as const)
      .filter(([, raw]) => raw.length > MAX_CHUNK);
    expect(bodies.length).toBeGreaterThan(0);
    for (const [f, raw] of bodies) {
      expect(textChunks(raw).length).toBeGreaterThan(1);
      expect([f, getTokenizer('o200k').count(raw)]).toEqual([f, o200kCount(raw)]);
    }
  });
});
