/**
 * Real sockets on both sides: client → listen(captureHandler) → fake upstream. The bytes the client receives
 * must equal the bytes the upstream sent, whatever the framing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { openDb, type Db } from '../../src/store/db.js';
import { createCaptureHandler, type CaptureHandler } from '../../src/capture/capture-handler.js';
import { createDbWriter } from '../../src/capture/request-writer.js';
import { listen, type Listening } from '../../src/capture/listen.js';
import { ManualClock } from '../../src/shared/clock.js';
import { rowToTraceRequest } from '../../src/store/sources/requests-row.js';
import type { RecordedSseEvent, RequestsTable } from '../../src/store/db-types.js';
import { createFakeAnthropic, rawReply, type FakeAnthropic, type FakeReply } from '../helpers/fake-anthropic.js';
import { messagesBody } from './harness.js';

interface Rig {
  fake: FakeAnthropic;
  proxy: Listening;
  handler: CaptureHandler;
  db: Db;
  dir: string;
  upstreamAgent: Agent;
  clientAgent: Agent;
}
let rig: Rig | undefined;

async function start(reply: () => FakeReply, clock?: ManualClock): Promise<Rig> {
  const fake = createFakeAnthropic({ script: reply, clock });
  await fake.listen();
  const dir = mkdtempSync(join(tmpdir(), 'trace-bytes-'));
  const db = openDb(join(dir, 'requests.db'));
  const upstreamAgent = new Agent({ headersTimeout: 0, bodyTimeout: 0 });
  const handler = createCaptureHandler({ upstream: fake.url, writer: createDbWriter(db), dispatcher: upstreamAgent });
  const proxy = await listen(handler);
  return { fake, proxy, handler, db, dir, upstreamAgent, clientAgent: new Agent() };
}

afterEach(async () => {
  if (!rig) return;
  await rig.clientAgent.destroy();
  await rig.proxy.close();
  await rig.upstreamAgent.destroy();
  await rig.fake.close();
  rig.db.close();
  rmSync(rig.dir, { recursive: true, force: true });
  rig = undefined;
});

async function post(r: Rig) {
  return request(`${r.proxy.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'k' },
    body: JSON.stringify(messagesBody()),
    dispatcher: r.clientAgent,
  });
}

function concat(chunks: (string | Uint8Array)[]): Buffer {
  return Buffer.concat(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : Buffer.from(c))));
}

/** Splits bytes at the given cut points (odd places: mid-CRLF, mid-UTF-8 sequence, mid-field-name). */
function cut(buf: Buffer, points: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, buf.length]) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  return out.filter((b) => b.length > 0);
}

describe('capture proxy byte-exactness (real sockets)', () => {
  it('relays odd chunk boundaries, CRLF framing, event: lines, a >1 MB data line, multi-byte UTF-8 untouched', async () => {
    const big = 'x'.repeat(1_100_000);
    const msgStart = { type: 'message_start', message: { id: 'msg_b', type: 'message', role: 'assistant', model: 'm', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 11, cache_read_input_tokens: 5, cache_creation_input_tokens: 0, output_tokens: 1 } } };
    const sse =
      `event: message_start\r\ndata: ${JSON.stringify(msgStart)}\r\n\r\n` +
      `event: content_block_start\r\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\r\n\r\n` +
      `: a comment line\r\n` +
      `event: ping\r\ndata: {"type": "ping"}\r\n\r\n` +
      `event: content_block_delta\r\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"héllo ✓ 𝄞 ${big}"}}\r\n\r\n` +
      `event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n` +
      `event: message_delta\rdata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":42}}\r\r` +
      `event: message_stop\r\ndata: {"type":"message_stop"}\r\n\r\n`;
    const bytes = Buffer.from(sse);
    const crlf = bytes.indexOf('\r\n');
    const utf8 = bytes.indexOf(Buffer.from('✓')) + 1; // inside a 3-byte sequence
    const clef = bytes.indexOf(Buffer.from('𝄞')) + 2; // inside a 4-byte sequence
    const chunks = cut(bytes, [1, 7, crlf + 1, crlf + 2, 500, utf8, clef, clef + 1, 700_000, bytes.length - 3]);
    rig = await start(() => rawReply(chunks, { headers: { 'request-id': 'req_exact', 'anthropic-ratelimit-tokens-remaining': '123', 'x-custom': 'yes' } }));
    const res = await post(rig);
    expect(res.statusCode).toBe(200);
    expect(res.headers['request-id']).toBe('req_exact');
    expect(res.headers['anthropic-ratelimit-tokens-remaining']).toBe('123');
    expect(res.headers['x-custom']).toBe('yes');
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const got = Buffer.from(await res.body.arrayBuffer());
    expect(got.length).toBe(bytes.length);
    expect(got.equals(concat(chunks))).toBe(true);

    await rig.handler.idle();
    const row = rig.db.prepare('SELECT * FROM requests').get() as RequestsTable;
    expect(row.state).toBe('complete');
    expect(row.response_bytes).toBe(bytes.length);
    const events = JSON.parse(row.sse_events!) as RecordedSseEvent[];
    expect(events.map((e) => e[1])).toEqual(['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    expect(events[3]![2].length).toBeGreaterThan(1_000_000);
    expect(row.input_tokens).toBe(11);
    expect(row.cache_read_input_tokens).toBe(5);
    expect(row.output_tokens).toBe(42);
    expect(row.stop_reason).toBe('end_turn');
    const msg = rowToTraceRequest(row, 'capture').response as unknown as { content: { text: string }[] };
    expect(msg.content[0]!.text).toBe(`héllo ✓ 𝄞 ${big}`);
    const log = JSON.parse(row.response!) as { headers: Record<string, string[]> };
    expect(log.headers['request-id']).toEqual(['req_exact']);
  });

  it('flushes each chunk as it arrives (no buffering): the client reads event 1 while upstream holds event 2', async () => {
    const clock = new ManualClock(0);
    rig = await start(() => rawReply(['event: ping\ndata: {"type":"ping"}\n\n', 'event: message_stop\ndata: {"type":"message_stop"}\n\n'], { eventDelayMs: 1000 }), clock);
    const res = await post(rig);
    const it = res.body[Symbol.asyncIterator]();
    const first = (await it.next()).value as Buffer;
    expect(first.toString()).toBe('event: ping\ndata: {"type":"ping"}\n\n');
    // the fake is still sleeping on the manual clock before the second chunk
    expect(clock.pending).toBe(1);
    expect(rig.fake.messages()[0]!.completed).toBe(false);
    clock.advance(1000);
    const rest: Buffer[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value as Buffer);
    expect(Buffer.concat(rest).toString()).toBe('event: message_stop\ndata: {"type":"message_stop"}\n\n');
  });

  it('an upstream reset mid-stream reaches the client as a broken response (not a clean end)', async () => {
    rig = await start(() => rawReply(['event: ping\ndata: {"type":"ping"}\n\n', 'event: ping\ndata: {"type":"ping"}\n\n', 'never sent'], { resetAfterEvents: 2 }));
    const res = await post(rig);
    const received: Buffer[] = [];
    await expect(
      (async () => {
        for await (const c of res.body) received.push(c as Buffer);
      })(),
    ).rejects.toThrow();
    expect(Buffer.concat(received).toString()).toBe('event: ping\ndata: {"type":"ping"}\n\n'.repeat(2));
    await rig.handler.idle();
    const row = rig.db.prepare('SELECT state, error FROM requests').get() as RequestsTable;
    expect(row.state).toBe('error');
    expect(row.error).toMatch(/upstream response broke/);
  });

  it('a client that disconnects mid-stream makes the proxy abort the upstream request', async () => {
    const clock = new ManualClock(0);
    rig = await start(() => rawReply(['event: ping\ndata: {"type":"ping"}\n\n', 'event: ping\ndata: {"type":"ping"}\n\n'], { eventDelayMs: 60_000 }), clock);
    const res = await post(rig);
    const it = res.body[Symbol.asyncIterator]();
    await it.next();
    res.body.destroy();
    await rig.fake.waitFor(() => rig!.fake.aborts().length === 1);
    await rig.handler.idle();
    const row = rig.db.prepare('SELECT state FROM requests').get() as RequestsTable;
    expect(row.state).toBe('aborted');
  });
});
