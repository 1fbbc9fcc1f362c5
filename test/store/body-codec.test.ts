import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  compressSegment,
  decodeBody,
  decompressSegment,
  encodeBody,
  MemorySegmentStore,
  readBody,
  SegmentCache,
  skeletonRefs,
  writeBody,
  type Codec,
} from '../../src/store/body-codec.js';
import { StoreError } from '../../src/shared/errors.js';
import { FIXTURES, HAS_SHARED, ROOT } from '../helpers/paths.js';
import { syntheticCliBody } from '../helpers/synthetic-body.js';
import { segmentStoreContract } from './segment-store-contract.js';

const CC = join(FIXTURES, 'claude-code');
if (!HAS_SHARED) console.warn('body-codec fixture tests skipped: ../shared/fixtures is absent');

function fixture(name: string): Buffer {
  return readFileSync(join(CC, name));
}

/** Every request body of an example database, as stored (read-only). */
function exampleBodies(file: string): Buffer[] {
  const db = new Database(join(ROOT, 'examples', file), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT body FROM requests ORDER BY rowid').all() as Array<{ body: string | Buffer }>).map((r) =>
      Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body, 'utf8'),
    );
  } finally {
    db.close();
  }
}

/** Encode then decode through a plain map of raw segments (no store). */
function roundTrip(body: Buffer | string, codec?: Codec): Buffer {
  const enc = encodeBody(body, { codec });
  const byId = new Map(enc.segments.map((s) => [s.id, s.bytes]));
  return decodeBody(enc.skeleton, (id) => byId.get(id), { verify: true });
}

function sha128(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex').slice(0, 32);
}

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe('body codec: real bodies round-trip byte-exact', () => {
  for (const file of ['requests.db', 'synthetic.db']) {
    it(`every body of examples/${file}, through a segment store`, async () => {
      const bodies = exampleBodies(file);
      expect(bodies.length).toBeGreaterThan(30);
      // the examples keep raw bodies in `body`; if they are ever stored compact, read them through the store here
      expect(bodies.reduce((a, b) => a + b.length, 0)).toBeGreaterThan(bodies.length * 1000);
      const store = new MemorySegmentStore();
      const skeletons = [];
      for (const b of bodies) skeletons.push((await writeBody(store, b)).skeleton);
      for (let i = 0; i < bodies.length; i++) expect((await readBody(store, skeletons[i]!, { verify: true })).equals(bodies[i]!)).toBe(true);
      const raw = bodies.reduce((a, b) => a + b.length, 0);
      const compact = store.storedBytes + skeletons.reduce((a, s) => a + s.length, 0);
      // The same tools/system repeat in every body: stored once, so the store is far smaller than the raw bodies.
      expect(compact).toBeLessThan(raw / 5);
    });
  }

  it.skipIf(!HAS_SHARED)('every fixture body under ../shared/fixtures/claude-code, with each codec', () => {
    const files = readdirSync(CC).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const f of files) for (const codec of ['raw', 'deflate', 'brotli'] as const) expect(roundTrip(fixture(f), codec).equals(fixture(f))).toBe(true);
  });
});

describe.skipIf(!HAS_SHARED)('body codec: segment boundaries on a real Claude Code body', () => {
  // compact, as the CLI sends it: then a segment's length is JSON.stringify's length of the value it holds
  const parsed = HAS_SHARED ? JSON.parse(fixture('main-tool-result-2.1.197.json').toString('utf8')) : {};
  const body = Buffer.from(JSON.stringify(parsed));

  it('one segment per tool and per system block, one per message content block', () => {
    const enc = encodeBody(body);
    expect(enc.split).toBe(true);
    const tools = enc.segments.filter((s) => s.kind === 'tool');
    expect(tools.map((s) => JSON.parse(s.bytes.toString()).name)).toEqual(parsed.tools.map((t: { name: string }) => t.name));
    const system = enc.segments.filter((s) => s.kind === 'system');
    // system blocks of 64 bytes or more (the billing line is ~100 bytes) are segments, without their marker
    const strip = ({ cache_control: _c, ...rest }: Record<string, unknown>) => rest;
    expect(system.map((s) => JSON.parse(s.bytes.toString()))).toEqual(parsed.system.map(strip));
    const blocks = enc.segments.filter((s) => s.kind === 'block' || s.kind === 'message');
    const expected = (parsed.messages as Array<{ content: unknown }>).flatMap((m) =>
      Array.isArray(m.content) ? m.content.map((c) => strip(c as Record<string, unknown>)) : [m],
    );
    expect(blocks.map((s) => JSON.parse(s.bytes.toString()))).toEqual(expected.filter((v) => JSON.stringify(v).length >= 64));
  });

  it('a segment id is the first 128 bits of SHA-256 of its bytes', () => {
    for (const s of encodeBody(body).segments) expect(s.id).toBe(sha128(s.bytes));
  });

  it('the tools and system blocks of the two requests of one tool loop are the same segments', () => {
    const a = encodeBody(fixture('main-tool-first-2.1.197.json'));
    const b = encodeBody(fixture('main-tool-result-2.1.197.json'));
    const ids = (e: typeof a, k: string) => e.segments.filter((s) => s.kind === k).map((s) => s.id);
    expect(ids(b, 'tool')).toEqual(ids(a, 'tool'));
    expect(ids(b, 'tool')).toHaveLength(parsed.tools.length);
    expect(ids(b, 'system')).toEqual(ids(a, 'system'));
  });
});

describe('body codec: odd input round-trips byte-exact', () => {
  const base = HAS_SHARED
    ? JSON.parse(fixture('main-tool-result-2.1.197.json').toString('utf8'))
    : { model: 'm', system: [{ type: 'text', text: 'x'.repeat(200), cache_control: { type: 'ephemeral' } }], tools: [{ name: 't', description: 'd'.repeat(300) }], messages: [{ role: 'user', content: 'hi '.repeat(50) }] };
  const compact = JSON.stringify(base);
  /** Whitespace around every structural character outside strings. */
  const spaced = (json: string) => {
    let out = '';
    let inStr = false;
    for (let i = 0; i < json.length; i++) {
      const c = json[i]!;
      if (inStr) {
        out += c;
        if (c === '\\') out += json[++i];
        else if (c === '"') inStr = false;
      } else if (c === '"') {
        inStr = true;
        out += c;
      } else out += /[,:{}[\]]/.test(c) ? ` ${c}\r\n\t` : c;
    }
    return out;
  };
  const asciiEscaped = compact.replace(/[^\x20-\x7e]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));

  const cases: Array<[string, string | Buffer, boolean]> = [
    ['compact JSON', compact, true],
    ['indent 2', JSON.stringify(base, null, 2), true],
    ['tab indent and CRLF', JSON.stringify(base, null, '\t').replace(/\n/g, '\r\n'), true],
    ['whitespace everywhere', ' \n\t' + spaced(compact) + '\n\n', true],
    ['non-ASCII as \\u escapes', asciiEscaped, true],
    ['escaped slashes and quotes', compact.replace(/\//g, '\\/'), true],
    ['duplicate keys', compact.replace(/^\{/, '{"tools":[{"name":"first copy","description":"' + 'z'.repeat(100) + '"}],"messages":"x",'), true],
    ['tools not an array', JSON.stringify({ ...base, tools: { a: 'b'.repeat(3000) } }), true],
    ['tools missing', JSON.stringify({ ...base, tools: undefined }), true],
    ['system as a string', JSON.stringify({ ...base, system: 'You are a helpful assistant. '.repeat(20) }), true],
    ['empty arrays', JSON.stringify({ ...base, tools: [], system: [], messages: [] }), true],
    ['messages with nulls and numbers', JSON.stringify({ ...base, messages: [null, 1, -2.5e10, true, 'x'.repeat(100), [[[]]]] }), true],
    ['a huge string block', JSON.stringify({ ...base, messages: [{ role: 'user', content: [{ type: 'text', text: 'é\u2028"\\'.repeat(300_000) }] }] }), true],
    ['deeply nested arrays', '{"messages":[' + '['.repeat(100_000) + ']'.repeat(100_000) + ']}', true],
    ['cache_control the only member', '{"messages":[{"role":"user","content":[{"cache_control":{"type":"ephemeral","ttl":"1h"}},{"type":"text","cache_control":{"type":"ephemeral"},"text":"' + 'q'.repeat(80) + '"}]}]}', true],
    ['a byte-order mark', '\ufeff' + compact, false],
    ['top-level array', JSON.stringify([base, base]), false],
    ['trailing garbage', compact + 'garbage', false],
    ['two objects', compact + compact, false],
    ['empty', '', false],
    ['only whitespace', '  \n ', false],
    ['not JSON', 'hello world, this is not JSON at all '.repeat(10), false],
    ['unterminated string', '{"messages":[{"role":"user","content":"abc', false],
    ['mismatched brackets', '{"messages":[{"role":"user"]}', false],
    ['invalid UTF-8 bytes', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x22, 0x7d]), true],
  ];
  for (const [name, body, split] of cases) {
    it(name, () => {
      const buf = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
      // the cases expected to split are valid JSON (the deep one is too deep for JSON.parse's recursion)
      if (split && typeof body === 'string' && name !== 'deeply nested arrays') expect(() => JSON.parse(body)).not.toThrow();
      expect(encodeBody(buf).split).toBe(split);
      expect(roundTrip(buf).equals(buf)).toBe(true);
      // a string body round-trips to its UTF-8 bytes
      if (!Buffer.isBuffer(body)) expect(roundTrip(body).toString('utf8')).toBe(body);
    });
  }

  it('every prefix cut of a real body (truncated bodies), and random byte flips', () => {
    const buf = Buffer.from(JSON.stringify(base));
    const r = rng(7);
    for (let k = 0; k < 60; k++) {
      const cut = buf.subarray(0, Math.floor(r() * buf.length));
      expect(roundTrip(cut).equals(cut)).toBe(true);
      const flipped = Buffer.from(buf);
      for (let f = 0; f < 3; f++) flipped[Math.floor(r() * flipped.length)] = Math.floor(r() * 256);
      expect(roundTrip(flipped).equals(flipped)).toBe(true);
    }
  });

  it('random bytes and random JSON-ish token soup', () => {
    const r = rng(11);
    const tokens = ['{', '}', '[', ']', ',', ':', '"', '\\', '"tools"', '"messages"', '"cache_control"', '"content"', ' ', '\n', '1', 'null', 'x'.repeat(70)];
    for (let k = 0; k < 200; k++) {
      const bytes = Buffer.from(Array.from({ length: Math.floor(r() * 400) }, () => Math.floor(r() * 256)));
      expect(roundTrip(bytes).equals(bytes)).toBe(true);
      const soup = Buffer.from('{' + Array.from({ length: Math.floor(r() * 60) }, () => tokens[Math.floor(r() * tokens.length)]).join(''));
      expect(roundTrip(soup).equals(soup)).toBe(true);
    }
  });
});

describe('body codec: a growing conversation stores only its new blocks', () => {
  const base = HAS_SHARED ? JSON.parse(fixture('main-text-2.1.197.json').toString('utf8')) : { ...syntheticCliBody(), messages: [] };
  const marker = { type: 'ephemeral' };
  /** Blocks appended at turn t: all distinct, all well over 64 bytes. */
  const turnBlocks = (t: number) => ({
    assistant: [
      { type: 'text', text: `Turn ${t}: let me look at the next file to understand how the parser handles this case.` },
      { type: 'tool_use', id: `toolu_${String(t).padStart(24, '0')}`, name: 'Read', input: { file_path: `/repo/src/module-${t}.ts` } },
    ],
    user: [{ type: 'tool_result', tool_use_id: `toolu_${String(t).padStart(24, '0')}`, content: `${t}\t` + 'export const x = 1;\n'.repeat(5 + (t % 7) * 40) }],
  });

  it('each request adds exactly the blocks appended since the previous one, whatever the marker did', async () => {
    const store = new MemorySegmentStore();
    const messages: Array<{ role: string; content: Array<Record<string, unknown>> }> = [{ role: 'user', content: [{ type: 'text', text: 'Please read every module of the repository and summarise what each one does.' }] }];
    const first = await writeBody(store, JSON.stringify({ ...base, messages: withMarker(messages) }));
    // first request: every tool, system block (≥ 64 bytes) and message block is new
    const expectedFirst = new Set(
      [...(base.tools ?? []), ...(base.system ?? []), ...messages.flatMap((m) => m.content)]
        .map((v) => JSON.stringify(stripMarker(v)))
        .filter((s) => s.length >= 64),
    ).size;
    const firstSegments = encodeBody(JSON.stringify({ ...base, messages: withMarker(messages) })).segments;
    expect(firstSegments.filter((seg) => seg.kind !== 'run')).toHaveLength(expectedFirst);
    expect(first.newSegments).toBe(firstSegments.length);
    const skeletons = [first.skeleton];
    const bodies = [JSON.stringify({ ...base, messages: withMarker(messages) })];
    for (let t = 1; t <= 30; t++) {
      const { assistant, user } = turnBlocks(t);
      messages.push({ role: 'assistant', content: assistant }, { role: 'user', content: user });
      const body = JSON.stringify({ ...base, messages: withMarker(messages) });
      const before = new Set(store.segments.keys());
      const w = await writeBody(store, body);
      const added = encodeBody(body).segments.filter((seg) => !before.has(seg.id));
      // content: exactly the three appended blocks, byte for byte (the previous newest block lost its marker
      // but is the same segment)
      const addedLeaves = added.filter((seg) => seg.kind !== 'run').map((seg) => seg.bytes.toString('utf8'));
      expect(addedLeaves.sort()).toEqual([...assistant, ...user].map((blk) => JSON.stringify(blk)).sort());
      // runs (groups of references): only the ones around the newest blocks change
      expect(added.length - addedLeaves.length).toBeLessThanOrEqual(addedLeaves.length + 1);
      expect(w.newSegments).toBe(added.length);
      skeletons.push(w.skeleton);
      bodies.push(body);
    }
    const cache = new SegmentCache(1024 * 1024);
    for (let i = 0; i < bodies.length; i++) expect((await readBody(store, skeletons[i]!, { cache })).toString('utf8')).toBe(bodies[i]);
    // the skeleton refers to runs of references, not to each of the ~100 tools/system/message blocks
    const leaves = encodeBody(bodies.at(-1)!).segments.filter((seg) => seg.kind !== 'run').length;
    expect(leaves).toBeGreaterThan(100);
    expect(skeletonRefs(skeletons.at(-1)!).ids.length).toBeLessThan(leaves / 3);
  });

  /** cache_control on the newest block only, as Claude Code sends it. */
  function withMarker(messages: Array<{ role: string; content: Array<Record<string, unknown>> }>) {
    return messages.map((m, i) =>
      i === messages.length - 1 ? { ...m, content: m.content.map((c, j) => (j === m.content.length - 1 ? { ...c, cache_control: marker } : c)) } : m,
    );
  }
  function stripMarker(v: Record<string, unknown>) {
    const { cache_control: _c, ...rest } = v;
    return rest;
  }
});

describe('body codec: stored forms and errors', () => {
  it('compressSegment is self-describing and falls back to raw when compression does not help', () => {
    const text = Buffer.from('{"type":"text","text":"' + 'abc '.repeat(500) + '"}');
    for (const c of ['raw', 'deflate', 'brotli'] as const) {
      const s = compressSegment(text, c);
      expect(decompressSegment(s).equals(text)).toBe(true);
      if (c !== 'raw') expect(s.length).toBeLessThan(text.length / 4);
    }
    const tiny = Buffer.from('ab');
    expect(compressSegment(tiny, 'brotli')).toEqual(Buffer.from([0, 0x61, 0x62]));
  });

  it('skeletonRefs lists each referenced segment once', () => {
    const block = { type: 'text', text: 'same block, long enough to be its own segment in the store' };
    const body = JSON.stringify({ messages: [{ role: 'user', content: [block, block] }, { role: 'user', content: [block] }] });
    const enc = encodeBody(body);
    expect(enc.segments).toHaveLength(1);
    expect(skeletonRefs(enc.skeleton)).toEqual({ ids: [sha128(Buffer.from(JSON.stringify(block)))], runs: [] });
  });

  it('SegmentCache keeps at most maxBytes, dropping the least recently used; reads stay exact through evictions', async () => {
    const cache = new SegmentCache(100);
    cache.set('a', Buffer.alloc(40));
    cache.set('b', Buffer.alloc(40));
    expect(cache.get('a')).toBeDefined(); // a is now the most recent
    cache.set('c', Buffer.alloc(40)); // 120 > 100: b goes
    expect([cache.get('a') !== undefined, cache.get('b') !== undefined, cache.get('c') !== undefined]).toEqual([true, false, true]);
    cache.set('huge', Buffer.alloc(101));
    expect(cache.get('huge')).toBeUndefined();

    const store = new MemorySegmentStore();
    const blocks = Array.from({ length: 200 }, (_, i) => ({ type: 'text', text: `block ${i} `.repeat(10) }));
    const bodies = [60, 120, 200].map((n) => JSON.stringify({ messages: [{ role: 'user', content: blocks.slice(0, n) }] }));
    const skeletons = [];
    for (const b of bodies) skeletons.push((await writeBody(store, b)).skeleton);
    const small = new SegmentCache(500); // far smaller than one body: evicts during every read
    for (let r = 0; r < 2; r++) for (let i = 0; i < bodies.length; i++) expect((await readBody(store, skeletons[i]!, { cache: small })).toString()).toBe(bodies[i]);
  });

  it('a missing segment, a corrupt skeleton or a wrong segment is an E_STORE error', () => {
    const enc = encodeBody(JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(100) }] }));
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(StoreError);
        return (e as StoreError).code;
      }
      return 'no error';
    };
    expect(code(() => decodeBody(enc.skeleton, () => undefined))).toBe('E_STORE');
    expect(code(() => decodeBody(Buffer.from([0, 1, 2, 3]), () => undefined))).toBe('E_STORE');
    expect(code(() => decodeBody(Buffer.from([9, 1]), () => undefined))).toBe('E_STORE');
    expect(code(() => decodeBody(Buffer.from([2, 1, 2, 3]), () => undefined))).toBe('E_STORE');
    expect(code(() => decodeBody(enc.skeleton, () => Buffer.from('y'.repeat(120)), { verify: true }))).toBe('E_STORE');
    // runs do not nest: a run segment holding a run reference is corrupt
    const many = encodeBody(JSON.stringify({ messages: [{ role: 'user', content: Array.from({ length: 300 }, (_, i) => ({ type: 'text', text: `run block ${i} `.repeat(8) })) }] }));
    const runs = many.segments.filter((seg) => seg.kind === 'run');
    expect(runs.length).toBeGreaterThan(3);
    const byId = new Map(many.segments.map((seg) => [seg.id, seg.bytes]));
    expect(decodeBody(many.skeleton, (id) => byId.get(id)).toString()).toContain('run block 299');
    byId.set(runs[0]!.id, Buffer.concat([Buffer.from([3]), Buffer.from(runs[1]!.id, 'hex')]));
    expect(code(() => decodeBody(many.skeleton, (id) => byId.get(id)))).toBe('E_STORE');
  });
});

segmentStoreContract('MemorySegmentStore', () => new MemorySegmentStore());
