import { describe, expect, it } from 'vitest';
import { blockText, syntheticBody, recordedBody, maxTokensFor } from '../../src/replay/content.js';
import { planFromBlocks } from '../../src/replay/plan.js';
import { getTokenizer } from '../../src/analyze/tokenizers/index.js';
import { blk } from './helpers.js';

describe('replay content builders', () => {
  const plan = planFromBlocks(
    [
      blk({ id: 'a', t: 0, hashIds: [1, 2, 3], inputTokens: 64 * 3 + 10, blockSize: 64 }),
      blk({ id: 'b', t: 1, hashIds: [1, 2, 4, 5], inputTokens: 64 * 4 + 7, blockSize: 64 }),
      blk({ id: 'c', t: 2, hashIds: [9], inputTokens: 64, blockSize: 64 }),
    ],
    't',
    'test',
  );
  const text = (id: string) => syntheticBody(plan.requests.find((r) => r.id === id)!, 'm', 32).messages[0]!.content as string;

  it('equal hash ids give byte-identical prefixes; different ids diverge at the first differing block', () => {
    const a = text('a');
    const b = text('b');
    const shared = blockText(1, 64) + blockText(2, 64);
    expect(a.startsWith(shared)).toBe(true);
    expect(b.startsWith(shared)).toBe(true);
    expect(a.slice(shared.length, shared.length + 40)).not.toBe(b.slice(shared.length, shared.length + 40));
    expect(text('c').startsWith(blockText(1, 64))).toBe(false);
    // deterministic
    expect(text('a')).toBe(a);
  });

  it('sizes each block to ≈ block size tokens of a real BPE tokenizer (o200k), within 10 %', () => {
    const tok = getTokenizer('o200k');
    for (const id of [1, 2, 777, 123456]) {
      const n = tok.count(blockText(id, 64));
      expect(n).toBeGreaterThanOrEqual(58);
      expect(n).toBeLessThanOrEqual(70);
    }
    // the whole prompt (3 blocks + 10-token tail) lands near the recorded input tokens
    const total = tok.count(text('a'));
    expect(Math.abs(total - (64 * 3 + 10)) / (64 * 3 + 10)).toBeLessThan(0.1);
  });

  it('recorded content replaces the model and sets max_tokens from the recorded output', () => {
    const p = planFromBlocks([blk({ id: 'x', t: 0, outputTokens: 42 })], 't', 'test').requests[0]!;
    expect(maxTokensFor(p, 'recorded')).toBe(42);
    expect(maxTokensFor(p, 7)).toBe(7);
    const withBody = { ...p, body: { model: 'claude-opus', max_tokens: 32000, messages: [{ role: 'user' as const, content: 'hi' }] } };
    const b = recordedBody(withBody, 'qwen', 'recorded');
    expect(b).toMatchObject({ model: 'qwen', max_tokens: 42, stream: true, messages: [{ role: 'user', content: 'hi' }] });
    expect(withBody.body.model).toBe('claude-opus'); // not mutated
  });
});
