/**
 * Relays an upstream response body to the client as one chunk source, read either by the listen adapter directly
 * (DirectBody) or through a web ReadableStream. The upstream body is read with 'data' events into a short queue
 * (paused when 16 chunks wait): cheaper than an async iterator per chunk. Chunks that arrived before a failure are
 * still relayed, then the failure is thrown.
 */
import type { Readable } from 'node:stream';
import type { DirectBody } from './listen.js';

export interface RelayHooks {
  /** Each chunk as relayed, before the client gets it (the recorder's copy; must not throw). */
  onChunk(bytes: Uint8Array): void;
  /** The upstream body ended cleanly (after its last chunk was handed out). */
  onEnd(): void;
  /** The upstream body broke; called before the error reaches the client. */
  onBroke(e: unknown): void;
  /** The client went away (the upstream body is destroyed first). */
  onCancel(reason?: unknown): void;
}

export function relayUpstreamBody(upBody: Readable, hooks: RelayHooks): DirectBody {
  const queued: Buffer[] = [];
  let ended = false;
  let broke: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  upBody.on('data', (c: Buffer) => {
    queued.push(c);
    if (queued.length >= 16) upBody.pause();
    notify();
  });
  upBody.once('end', () => {
    ended = true;
    notify();
  });
  upBody.once('error', (e: unknown) => {
    broke ??= e;
    notify();
  });
  upBody.once('close', () => {
    if (!ended) broke ??= new Error('upstream response closed before its end');
    notify();
  });
  const read = async (): Promise<Uint8Array | null> => {
    while (queued.length === 0 && !ended && broke === undefined) await new Promise<void>((r) => (wake = r));
    const chunk = queued.shift();
    if (chunk === undefined) {
      if (broke !== undefined) {
        hooks.onBroke(broke);
        throw broke;
      }
      hooks.onEnd();
      return null;
    }
    if (queued.length === 0 && upBody.isPaused()) upBody.resume();
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    hooks.onChunk(bytes);
    return bytes;
  };
  const cancel = (reason?: unknown) => {
    upBody.destroy();
    hooks.onCancel(reason);
  };
  return { read, cancel };
}

/** The same chunk source as a web body stream (for clients that do not know DirectBody). */
export function webStreamOf(direct: DirectBody): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let v: Uint8Array | null;
        try {
          v = await direct.read();
        } catch (e) {
          controller.error(e);
          return;
        }
        if (v === null) controller.close();
        else controller.enqueue(v);
      },
      cancel: (reason) => direct.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}
