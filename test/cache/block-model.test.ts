import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, HAS_SHARED } from '../helpers/paths.js';
import { buildBlockRequests } from '../../src/analyze/blocks/block-model.js';
import { createChainHasher, HashIdAllocator } from '../../src/analyze/blocks/chain-hash.js';
import { getTokenizer } from '../../src/analyze/tokenizers/index.js';
import type { Tokenizer } from '../../src/analyze/tokenizers/tokenizer.js';
import type { MessagesRequest } from '../../src/shared/anthropic.js';
import type { TraceRequest } from '../../src/shared/trace-record.js';

const CC = join(FIXTURES, 'claude-code');
if (!HAS_SHARED) console.warn('block-model fixture tests skipped: ../shared/fixtures is absent');

function tr(id: string, body: MessagesRequest, t: number, extra: Partial<TraceRequest> = {}): TraceRequest {
  return {
    id,
    source: 'test',
    startedAtMs: t,
    endedAtMs: t + 1000,
    ttftMs: 500,
    durationMs: 1000,
    method: 'POST',
    endpoint: '/v1/messages',
    model: body.model ?? null,
    isStreaming: true,
    status: 200,
    userAgent: null,
    sessionId: 's1',
    body,
    bodyComplete: true,
    response: null,
    usage: null,
    stopReason: null,
    messageId: null,
    error: null,
    ...extra,
  };
}

const load = (f: string) => JSON.parse(readFileSync(join(CC, f), 'utf8')) as MessagesRequest;

function countingTokenizer(): Tokenizer & { calls: number } {
  const base = getTokenizer('chars4');
  const t = {
    name: 'counting',
    description: 'counts encode calls',
    calls: 0,
    encode(s: string) {
      t.calls++;
      return base.encode(s);
    },
    count: (s: string) => base.count(s),
  };
  return t;
}

describe.skipIf(!HAS_SHARED)('block model on real Claude Code requests', () => {
  it('append-only turns share every full block of the earlier prompt despite moved cache_control markers', async () => {
    const first = load('main-tool-first-2.1.197.json');
    const second = load('main-tool-result-2.1.197.json');
    const tok = countingTokenizer();
    const res = buildBlockRequests([tr('a', first, 0), tr('b', second, 5000)], { tokenizer: tok, hasher: await createChainHasher('xxh64'), blockSize: 64 });
    const [a, b] = res.requests;
    expect(a!.hashIds.length).toBe(Math.floor(a!.inputTokens / 64)); // partial trailing block not hashed
    expect(b!.inputTokens).toBeGreaterThan(a!.inputTokens);
    // Every full block of `a` that ends before its last (possibly re-serialised) message is shared by `b`.
    let shared = 0;
    while (shared < a!.hashIds.length && a!.hashIds[shared] === b!.hashIds[shared]) shared++;
    expect(shared).toBeGreaterThan(a!.hashIds.length - 3);
    expect(res.uniqueBlocks).toBe(new Set([...a!.hashIds, ...b!.hashIds]).size);
    // Tools and system are tokenised once across both requests (content-addressed segment cache).
    expect(tok.calls).toBe(res.distinctSegments);
    // Claude Code marks system[1], system[2] and the newest message block: 3 breakpoints, the last at the prompt end.
    expect(b!.breakpoints!.length).toBe(3);
    expect(b!.breakpoints![2]).toBe(b!.inputTokens);
    expect(b!.toolTokens).toBeGreaterThan(10_000);
    expect(b!.t).toBe(5);
    expect(b!.ttft).toBe(0.5);
  });

  it('the billing line (system[0]) does not break the prefix between sessions', async () => {
    const body = load('main-text-2.1.197.json');
    const other: MessagesRequest = JSON.parse(JSON.stringify(body));
    const sys = other.system as { type: 'text'; text: string }[];
    sys[0]!.text = sys[0]!.text.replace(/cc_version=[^;]*/, 'cc_version=9.9.9.zzz');
    const res = buildBlockRequests([tr('a', body, 0), tr('b', other, 1000, { sessionId: 's2' })], {
      tokenizer: getTokenizer('chars4'),
      hasher: await createChainHasher('xxh64'),
    });
    expect(res.requests[1]!.hashIds).toEqual(res.requests[0]!.hashIds);
    expect(res.requests[1]!.conversationId).toBe('s2');
  });

  it('xxh64 and sha256 chains give the same id structure; a salt changes the hashes, not the structure', async () => {
    const bodies = [load('main-tool-first-2.1.197.json'), load('main-tool-result-2.1.197.json'), load('subagent-2.1.197.json')];
    const run = async (algo: 'xxh64' | 'sha256', salt = '') => {
      const h = await createChainHasher(algo, salt);
      return buildBlockRequests(bodies.map((b, i) => tr(String(i), b, i * 1000)), { tokenizer: getTokenizer('chars4'), hasher: h }).requests.map((r) => r.hashIds);
    };
    const x = await run('xxh64');
    expect(await run('sha256')).toEqual(x);
    expect(await run('xxh64', 'salt')).toEqual(x);
    const h1 = await createChainHasher('xxh64');
    const h2 = await createChainHasher('xxh64', 'salt');
    const toks = Uint32Array.from({ length: 64 }, (_, i) => i);
    expect(h1.hashBlock('', toks, 0, 64)).not.toBe(h2.hashBlock('', toks, 0, 64));
    expect(h1.hashBlock('', toks, 0, 64)).toBe(h1.hashBlock('', toks, 0, 64));
  });

  it('block sizes: 16-token blocks make 4× the ids of 64-token blocks', async () => {
    const body = load('main-text-2.1.197.json');
    const hasher = await createChainHasher('xxh64');
    const r64 = buildBlockRequests([tr('a', body, 0)], { tokenizer: getTokenizer('chars4'), hasher, blockSize: 64 }).requests[0]!;
    const r16 = buildBlockRequests([tr('a', body, 0)], { tokenizer: getTokenizer('chars4'), hasher, blockSize: 16, ids: new HashIdAllocator() }).requests[0]!;
    expect(r16.hashIds.length).toBe(Math.floor(r16.inputTokens / 16));
    expect(r16.inputTokens).toBe(r64.inputTokens);
  });
});

describe('block model without tools/system (JSONL-like sources)', () => {
  it('models the missing prefix as an opaque block run sized from the first API usage, shared by agents of the same kind', async () => {
    const msg = (text: string): MessagesRequest => ({ model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: text }] });
    const usage = { input_tokens: 3, cache_read_input_tokens: 5000, cache_creation_input_tokens: 100, output_tokens: 1 };
    const reqs = ['x'.repeat(400), 'y'.repeat(800)].map((text, i) =>
      tr(`r${i}`, msg(text), i * 1000, { bodyComplete: false, usage, hints: { agentId: `sub${i}`, isSidechain: true, parentAgentId: 'main' } }),
    );
    const res = buildBlockRequests(reqs, { tokenizer: getTokenizer('chars4'), hasher: await createChainHasher('xxh64') });
    const [a, b] = res.requests;
    const msgTokens = Math.ceil(('<user>' + 'x'.repeat(400)).length / 4);
    expect(a!.opaquePrefixTokens).toBe(5103 - msgTokens);
    expect(b!.opaquePrefixTokens).toBe(a!.opaquePrefixTokens); // same kind ⇒ same opaque prefix
    const k = Math.floor(a!.opaquePrefixTokens! / 64);
    expect(b!.hashIds.slice(0, k)).toEqual(a!.hashIds.slice(0, k));
    expect(a!.prewarmedTokens).toBe(5000); // the API read 5000 on the first request: another session had cached it
    expect(a!.breakpoints).toEqual([a!.opaquePrefixTokens, a!.inputTokens]);
  });
});
