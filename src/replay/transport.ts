import type { Dispatcher } from 'undici';
import type { FetchLike, ResponseLike } from './backends/backend.js';

/**
 * FetchLike over an undici Dispatcher's `request` API (Node streams, keep-alive pool): much cheaper per request
 * than WHATWG fetch, which matters when one client drives hundreds of concurrent sessions.
 */
export function undiciTransport(dispatcher: Dispatcher): FetchLike {
  return async (url, init) => {
    const u = new URL(url);
    const res = await dispatcher.request({
      origin: u.origin,
      path: u.pathname + u.search,
      method: init.method as Dispatcher.HttpMethod,
      headers: init.headers,
      body: init.body,
      signal: init.signal,
    });
    const header = (name: string): string | null => {
      const v = res.headers[name.toLowerCase()];
      return v === undefined ? null : Array.isArray(v) ? v.join(', ') : String(v);
    };
    const out: ResponseLike = {
      status: res.statusCode,
      ok: res.statusCode >= 200 && res.statusCode < 300,
      headers: { get: header },
      text: () => res.body.text(),
      body: res.body as AsyncIterable<Uint8Array>,
    };
    return out;
  };
}
