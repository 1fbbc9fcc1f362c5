/**
 * Capture recording fixes (issue 15 item 6): wall-clock timestamps with monotonic durations, shutdown that waits
 * for in-flight rows and records the cut ones, secrets in query strings and custom credential headers, encoded
 * request bodies stored decoded, and an SSE stream stored once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { ManualClock } from '../../src/shared/clock.js';
import { formatSse } from '../../src/shared/sse.js';
import { rowToTraceRequest } from '../../src/store/sources/requests-row.js';
import type { ResponseLog } from '../../src/store/db-types.js';
import type { RowEvent } from '../../src/capture/capture-handler.js';
import { rawReply, textReply } from '../helpers/fake-anthropic.js';
import { messagesBody, postJson, readAllBytes, startHarness, type Harness } from './harness.js';
import { createStoreWriter } from '../../src/capture/request-writer.js';
import { kyselyFor } from '../../src/store/db.js';
import type { Store } from '../../src/store/store.js';
import { decodeBody, decompressSegment, skeletonRefs } from '../../src/store/body-codec.js';
import { iterateRequests, openSource } from '../../src/store/sources/index.js';
import { silentLogger } from '../../src/shared/logger.js';
import type { TraceRequest } from '../../src/shared/trace-record.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const sha = (v: string) => `sha256:${createHash('sha256').update(v).digest('hex').slice(0, 16)}`;

describe('capture timestamps', () => {
  it('timestamps follow the wall clock across a sleep; TTFT and duration follow the monotonic clock', async () => {
    const T0 = 1_700_000_000_000;
    const clock = new ManualClock(T0);
    const gates: (() => void)[] = [];
    h = await startHarness({ clock, script: () => new Promise((r) => gates.push(() => r(textReply('hi'))))});
    const p1 = h.send('/v1/messages', postJson(messagesBody()));
    await h.fake.waitFor(() => gates.length === 1);
    clock.advance(40); // 40 ms of real (monotonic) time
    clock.jumpWall(3_600_000); // the laptop sleeps for an hour: wall time jumps, the monotonic clock does not
    clock.advance(60);
    gates[0]!();
    await (await p1).text();
    await h.handler.idle();
    clock.advance(1000);
    const p2 = h.send('/v1/messages', postJson(messagesBody()));
    await h.fake.waitFor(() => gates.length === 2);
    clock.advance(25);
    gates[1]!();
    await (await p2).text();
    await h.handler.idle();

    const [a, b] = h.rows();
    expect(a!.started_at_ms).toBe(T0);
    expect(a!.timestamp).toBe(new Date(T0).toISOString());
    expect(a!.duration_ms).toBe(100); // not 3 600 100
    expect(a!.ttft_ms).toBe(100);
    expect((JSON.parse(a!.response!) as ResponseLog).responseTime).toBe(100);
    // the second request started after the sleep: its wall timestamp shows it
    expect(b!.started_at_ms).toBe(T0 + 3_600_000 + 100 + 1000);
    expect(b!.duration_ms).toBe(25);
    expect((JSON.parse(b!.response!) as ResponseLog).completedAt).toBe(new Date(T0 + 3_600_000 + 1125).toISOString());
  });
});

describe('capture shutdown', () => {
  it('waits for in-flight requests within the grace, then records the cut ones as such (none lost)', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const events: RowEvent[] = [];
    h = await startHarness({
      clock,
      onRow: (e) => events.push(e),
      script: (_b, i) => {
        if (i === 0) return textReply('finishes within the grace', { pieceSize: 2, eventDelayMs: 15 }); // real time, ~0.3 s
        if (i === 1) return new Promise(() => undefined); // the upstream never answers
        return textReply('x'.repeat(400), { pieceSize: 1, eventDelayMs: 100 }); // ~40 s: still streaming at the cut
      },
    });
    const responses = [0, 1, 2].map(() => h!.send('/v1/messages', postJson(messagesBody())));
    await h.fake.waitFor(() => h!.fake.messages().length === 3);
    const third = await responses[2]!;
    const reader = third.body!.getReader();
    await reader.read(); // the third stream is flowing
    const done = h.handler.shutdown({ graceMs: 30_000 });
    const first = await (await responses[0]!).text(); // finishes normally during the grace
    expect(first).toContain('message_stop');
    await h.fake.waitFor(() => h!.rows().some((r) => r.state === 'complete'));
    expect(h.handler.stats.inFlight).toBe(2);
    clock.advance(30_000); // the grace runs out
    expect(await done).toEqual({ inFlight: 3, cut: 2 });
    await expect((async () => {
      for (let r = await reader.read(); !r.done; r = await reader.read());
    })()).rejects.toThrow();

    const rows = h.rows();
    expect(rows.map((r) => r.state)).toEqual(['complete', 'aborted', 'aborted']);
    expect(rows[0]!.error).toBeNull();
    expect(rows[1]!.status).toBeNull();
    expect(rows[1]!.error).toBe('cut by proxy shutdown: still in flight after the 30 s grace');
    expect(rows[2]!.status).toBe(200);
    expect(rows[2]!.error).toBe('cut by proxy shutdown: still in flight after the 30 s grace');
    expect(JSON.parse(rows[2]!.sse_events!).length).toBeGreaterThan(0); // what was seen before the cut is kept
    expect(h.handler.stats).toMatchObject({ requests: 3, inFlight: 0, complete: 1, aborted: 2, cut: 2 });
    await h.fake.waitFor(() => h!.fake.aborts().length === 2); // the upstream requests were stopped
    // row observer: a started and a completed event per request
    expect(events.filter((e) => e.phase === 'started')).toHaveLength(3);
    expect(events.filter((e) => e.phase === 'completed').map((e) => e.row.state).sort()).toEqual(['aborted', 'aborted', 'complete']);
  });
});

describe('capture secrets', () => {
  it('hashes secret query parameters and custom credential headers; forwards them unchanged', async () => {
    h = await startHarness();
    const secrets = ['sk-q-key-1', 'sk-q-api-2', 'tok-q-3', 'cred-h-4', 'sess=cookie-5', 'tok-h-6', 'pk-h-7'];
    const res = await h.send(
      `/v1/messages?beta=true&key=${secrets[0]}&api_key=${secrets[1]}&access_token=${secrets[2]}`,
      postJson(messagesBody({ stream: false }), {
        'x-custom-credential': secrets[3]!,
        cookie: secrets[4]!,
        'x-session-token': secrets[5]!,
        'x-portkey-api-key': secrets[6]!,
      }),
    );
    await res.text();
    await h.handler.idle();
    const seen = h.fake.messages()[0]!;
    expect(seen.search).toBe(`?beta=true&key=${secrets[0]}&api_key=${secrets[1]}&access_token=${secrets[2]}`);
    expect(seen.headers['x-custom-credential']).toBe(secrets[3]);
    const r = h.rows()[0]!;
    const stored = JSON.stringify(r);
    for (const s of secrets) expect(stored).not.toContain(s);
    expect(r.upstream_url).toBe(`${h.fake.url}/v1/messages?beta=true&key=${sha(secrets[0]!)}&api_key=${sha(secrets[1]!)}&access_token=${sha(secrets[2]!)}`);
    const headers = JSON.parse(r.headers) as Record<string, string[]>;
    expect(headers['x-custom-credential']).toEqual([sha(secrets[3]!)]);
    expect(headers['cookie']).toEqual([sha(secrets[4]!)]);
    expect(headers['x-portkey-api-key']).toEqual([sha(secrets[6]!)]);
    expect(headers['content-type']).toEqual(['application/json']);
  });
});

describe('capture: encoded request bodies', () => {
  const encoders: [string, (b: Buffer) => Buffer][] = [
    ['gzip', (b) => gzipSync(b)],
    ['deflate', (b) => deflateSync(b)],
    ['br', (b) => brotliCompressSync(b)],
  ];
  for (const [encoding, encode] of encoders) {
    it(`a ${encoding} request body goes upstream byte-exact and is stored decoded`, async () => {
      h = await startHarness();
      const json = JSON.stringify(messagesBody({ stream: false }));
      const sent = encode(Buffer.from(json));
      const res = await h.send('/v1/messages', { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': encoding }, body: sent });
      await res.text();
      await h.handler.idle();
      expect(Buffer.from(h.fake.messages()[0]!.rawBody).equals(sent)).toBe(true);
      const r = h.rows()[0]!;
      expect(r.body).toBe(json);
      expect(r.request_bytes).toBe(sent.length);
      expect(r.model).toBe('claude-opus-4-8');
      expect(r.session_id).toBe('11111111-2222-3333-4444-555555555555');
      expect(rowToTraceRequest(r, 'capture').body!.messages).toHaveLength(1);
      expect(h.handler.stats.recordErrors).toBe(0);
    });
  }

  it('a body that does not decode is forwarded and stored as sent, counted and reported once', async () => {
    h = await startHarness();
    const sent = Buffer.from('not gzip at all');
    const res = await h.send('/v1/messages', { method: 'POST', headers: { 'content-encoding': 'gzip' }, body: sent });
    await res.text();
    await h.handler.idle();
    expect(Buffer.from(h.fake.messages()[0]!.rawBody).equals(sent)).toBe(true);
    expect(h.rows()[0]!.body).toBe('not gzip at all');
    expect(h.handler.stats.recordErrors).toBe(1);
    expect(h.logger.lines.join('\n')).toMatch(/cannot decode request body \(gzip\)/);
  });
});

describe('capture: a large SSE response is stored once', () => {
  it('a 10 MB stream costs at most 1.3× its size in the row, and reads back whole', async () => {
    const pieces: string[] = [];
    const id = 'msg_big';
    pieces.push(formatSse('message_start', JSON.stringify({ type: 'message_start', message: { id, type: 'message', role: 'assistant', model: 'claude-opus-4-8', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 10, output_tokens: 1 } } })));
    pieces.push(formatSse('content_block_start', JSON.stringify({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } })));
    let text = '';
    let size = pieces.join('').length;
    for (let i = 0; size < 10 * 1024 * 1024; i++) {
      const t = `line ${i} of a long answer, with "quotes" and a newline\n`;
      text += t;
      const ev = formatSse('content_block_delta', JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } }));
      pieces.push(ev);
      size += ev.length;
    }
    pieces.push(formatSse('content_block_stop', JSON.stringify({ type: 'content_block_stop', index: 0 })));
    pieces.push(formatSse('message_delta', JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 123456 } })));
    pieces.push(formatSse('message_stop', JSON.stringify({ type: 'message_stop' })));
    // ~64 KB network chunks
    const whole = Buffer.from(pieces.join(''));
    const chunks: Uint8Array[] = [];
    for (let o = 0; o < whole.length; o += 65536) chunks.push(whole.subarray(o, o + 65536));
    h = await startHarness({ script: () => rawReply(chunks) });
    const res = await h.send('/v1/messages', postJson(messagesBody()));
    expect(Buffer.from(await readAllBytes(res)).equals(whole)).toBe(true);
    await h.handler.idle();
    const r = h.rows()[0]!;
    expect(r.response_bytes).toBe(whole.length);
    const stored = Buffer.byteLength(r.response ?? '') + Buffer.byteLength(r.sse_events ?? '');
    expect(stored).toBeLessThan(1.3 * whole.length);
    const back = rowToTraceRequest(r, 'capture');
    expect((back.response!.content[0] as { text: string }).text).toBe(text);
    expect(back.usage!.output_tokens).toBe(123456);
    expect(back.messageId).toBe(id);
  });
});

describe('capture --compact-bodies', () => {
  it('the writer encodes each body after its completion: stored as a skeleton, shared segments, read back byte-exact', async () => {
    const errors: unknown[] = [];
    let writer: ReturnType<typeof createStoreWriter> | undefined;
    h = await startHarness({
      script: () => textReply('hi'),
      writer: (db) => {
        const kdb = kyselyFor(db);
        const store = { sqlite: db, db: kdb, withSegmentLock: (_mode: string, fn: (d: typeof kdb) => Promise<unknown>) => fn(kdb) } as unknown as Store;
        return (writer = createStoreWriter(store, { compactBodies: true, onError: (e) => errors.push(e) }));
      },
    });
    const tools = Array.from({ length: 6 }, (_, i) => ({ name: `Tool${i}`, description: `does thing ${i} `.repeat(40), input_schema: { type: 'object', properties: {} } }));
    // Different serialisations (pretty-printed, compact) must come back exactly as sent.
    const sent = [JSON.stringify(messagesBody({ tools }), null, 1), JSON.stringify(messagesBody({ tools })), JSON.stringify(messagesBody({ tools, max_tokens: 2048 }))];
    for (const text of sent) {
      await (await h.send('/v1/messages', postJson(text))).text();
      await h.handler.idle();
    }
    await writer!.flush();
    expect(errors).toEqual([]);
    const rows = h.rows();
    expect(rows).toHaveLength(3);
    const seg = h.db.prepare('SELECT data FROM body_segments WHERE id = ?').pluck();
    const get = (id: string) => { const d = seg.get(id) as Buffer | undefined; return d && decompressSegment(d); };
    rows.forEach((r, i) => {
      expect(r.state).toBe('complete');
      expect(r.body).toBe('');
      expect(r.body_skeleton).not.toBeNull();
      expect(decodeBody(r.body_skeleton!, get).toString('utf8')).toBe(sent[i]);
    });
    // The two compact bodies share the six tools' segments (stored once).
    const [, b, c] = rows.map((r) => new Set(skeletonRefs(r.body_skeleton!).ids));
    expect([...b!].filter((id) => c!.has(id)).length).toBeGreaterThanOrEqual(6);
    const src = openSource(h.dbPath, { logger: silentLogger });
    const back: TraceRequest[] = [];
    for await (const r of iterateRequests(src)) back.push(r);
    src.close();
    expect(back.map((r) => r.body)).toEqual(sent.map((t) => JSON.parse(t)));
  });
});
