import type { Dispatcher } from 'undici';
import type { FetchLike, ResponseLike } from './backends/backend.js';

type Controller = Parameters<NonNullable<Dispatcher.DispatchHandler['onRequestStart']>>[0];

/**
 * FetchLike over an undici Dispatcher's low-level `dispatch` API (keep-alive pool, no WHATWG fetch, no Node
 * Readable stream): response chunks are pushed straight to the consumer (`ResponseLike.consume`). When one
 * client drives hundreds of concurrent sessions, the per-chunk cost of stream async iteration (promises, the
 * end-of-stream machinery) is what delays the next scheduled send, so the hot path avoids it.
 */
export function undiciTransport(dispatcher: Dispatcher): FetchLike {
  const origins = new Map<string, { origin: string; path: string }>();
  return (url, init) =>
    new Promise<ResponseLike>((resolve, reject) => {
      let target = origins.get(url);
      if (!target) {
        const u = new URL(url);
        target = { origin: u.origin, path: u.pathname + u.search };
        origins.set(url, target);
      }
      const signal = init.signal;
      if (signal?.aborted) return reject(signal.reason);
      let controller: Controller | null = null;
      let headersSeen = false;
      let buffered: Uint8Array[] | null = [];
      let sink: ((chunk: Uint8Array) => void) | null = null;
      let ended = false;
      let failure: unknown = null;
      let endWaiter: { resolve: () => void; reject: (e: unknown) => void } | null = null;
      const onAbort = () => {
        if (controller) controller.abort(signal!.reason);
        else finish(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const finish = (err: unknown) => {
        if (ended) return;
        ended = true;
        failure = err;
        signal?.removeEventListener('abort', onAbort);
        if (!headersSeen) {
          reject(err ?? new Error('response ended without headers'));
          return;
        }
        const w = endWaiter;
        endWaiter = null;
        if (w) {
          if (err) w.reject(err);
          else w.resolve();
        }
      };
      const consume = (onChunk: (chunk: Uint8Array) => void): Promise<void> => {
        if (sink) return Promise.reject(new Error('response body already consumed'));
        sink = onChunk;
        const pending = buffered!;
        buffered = null;
        for (const c of pending) onChunk(c);
        if (ended) return failure ? Promise.reject(failure) : Promise.resolve();
        return new Promise<void>((res, rej) => {
          endWaiter = { resolve: res, reject: rej };
        });
      };
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(c) {
          controller = c;
          if (signal?.aborted) c.abort(signal.reason);
        },
        onResponseStart(_c, statusCode, headers) {
          headersSeen = true;
          const header = (name: string): string | null => {
            const v = headers[name.toLowerCase()];
            return v === undefined ? null : Array.isArray(v) ? v.join(', ') : String(v);
          };
          resolve({
            status: statusCode,
            ok: statusCode >= 200 && statusCode < 300,
            headers: { get: header },
            text: async () => {
              const parts: Uint8Array[] = [];
              await consume((c) => parts.push(c));
              return Buffer.concat(parts).toString('utf8');
            },
            body: null,
            consume,
          });
        },
        onResponseData(c, chunk) {
          if (!sink) buffered?.push(chunk);
          else {
            try {
              sink(chunk);
            } catch (e) {
              c.abort(e instanceof Error ? e : new Error(String(e)));
            }
          }
        },
        onResponseEnd() {
          finish(null);
        },
        onResponseError(_c, err) {
          finish(err);
        },
      };
      dispatcher.dispatch(
        {
          origin: target.origin,
          path: target.path,
          method: init.method as Dispatcher.HttpMethod,
          headers: init.headers,
          body: init.body,
        },
        handler,
      );
    });
}
