import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { listen, rawBodyOf, READS_RAW_BODY, withDirectBody, type Listening } from '../../src/capture/listen.js';

let l: Listening | undefined;
afterEach(async () => {
  await l?.close();
  l = undefined;
});

const chunks = ['data: one\n\n', 'data: two\n\n', 'data: three\n\n'];
function streamOf(parts: string[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < parts.length) c.enqueue(new TextEncoder().encode(parts[i++]));
      else c.close();
    },
  });
}

describe('capture listen adapter', () => {
  it('sends the response head at once when the first chunk is not there yet (the client sees headers before any byte)', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let sent = false;
    l = await listen(async () =>
      withDirectBody(new Response(streamOf([])), {
        // The first chunk comes only after the client has the headers: without the early head this never resolves.
        read: async () => {
          if (sent) return null;
          await gate;
          sent = true;
          return new TextEncoder().encode('data: late\n\n');
        },
        cancel: () => {},
      }),
    );
    const res = await request(`${l.url}/h`, { method: 'POST', body: '{}' });
    expect(res.statusCode).toBe(200);
    release();
    expect(await res.body.text()).toBe('data: late\n\n');
  });

  it('a head whose first chunk is already here goes out with it, and an upstream that breaks before any chunk still sends the head', async () => {
    l = await listen(async () => withDirectBody(new Response(streamOf([])), { read: (() => { let n = 0; return async () => (n++ === 0 ? new TextEncoder().encode('data: now\n\n') : null); })(), cancel: () => {} }));
    const ok = await request(`${l.url}/a`, { method: 'POST', body: '{}' });
    expect(ok.statusCode).toBe(200);
    expect(await ok.body.text()).toBe('data: now\n\n');
    await l.close();
    l = await listen(async () => withDirectBody(new Response(streamOf([])), { read: async () => { throw new Error('upstream broke'); }, cancel: () => {} }));
    const broke = await request(`${l.url}/b`, { method: 'POST', body: '{}' });
    expect(broke.statusCode).toBe(200);
    await expect(broke.body.text()).rejects.toThrow();
  });

  it('a plain handler gets a normal Request body and its web body stream is relayed', async () => {
    let seenBody = '';
    let seenRaw: Uint8Array | undefined;
    l = await listen(async (req) => {
      seenBody = await req.text();
      seenRaw = rawBodyOf(req);
      return new Response(streamOf(chunks), { headers: { 'content-type': 'text/event-stream' } });
    });
    const res = await request(`${l.url}/x`, { method: 'POST', body: '{"a":1}' });
    expect(await res.body.text()).toBe(chunks.join(''));
    expect(seenBody).toBe('{"a":1}');
    expect(Buffer.from(seenRaw!).toString()).toBe('{"a":1}');
  });

  it('a raw-body handler gets the bytes through rawBodyOf only, and a direct body is read instead of the stream', async () => {
    let webBody: string | undefined;
    let raw = '';
    let streamPulled = false;
    const handler = async (req: Request) => {
      raw = Buffer.from(rawBodyOf(req)!).toString();
      webBody = await req.text();
      const parts = [...chunks];
      const stream = new ReadableStream<Uint8Array>({
        pull(c) {
          streamPulled = true;
          c.close();
        },
      }, { highWaterMark: 0 });
      return withDirectBody(new Response(stream), {
        read: async () => (parts.length > 0 ? new TextEncoder().encode(parts.shift()!) : null),
        cancel: () => {},
      });
    };
    Object.defineProperty(handler, READS_RAW_BODY, { value: true });
    l = await listen(handler);
    const res = await request(`${l.url}/y`, { method: 'POST', body: 'héllo' });
    expect(await res.body.text()).toBe(chunks.join(''));
    expect(raw).toBe('héllo');
    expect(webBody).toBe('');
    expect(streamPulled).toBe(false);
  });

  it('a direct body that fails mid-way breaks the client connection after the bytes already sent', async () => {
    let n = 0;
    l = await listen(async () =>
      withDirectBody(new Response(new ReadableStream({ pull: (c) => c.close() }, { highWaterMark: 0 })), {
        read: async () => {
          if (n++ === 0) return new TextEncoder().encode('partial');
          throw new Error('upstream broke');
        },
        cancel: () => {},
      }),
    );
    const res = await request(`${l.url}/z`);
    let got = '';
    await expect(
      (async () => {
        for await (const c of res.body) got += c;
      })(),
    ).rejects.toThrow();
    expect(got).toBe('partial');
  });
});
