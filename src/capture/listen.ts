/**
 * Thin node:http adapter for web-standard handlers `(req: Request) => Promise<Response>`.
 *
 * - The request body is read fully, then handed over as a Request whose `signal` aborts when the client
 *   disconnects before the response has finished.
 * - The response is written chunk by chunk as the handler's body stream yields (each chunk is written and
 *   flushed immediately; TCP_NODELAY is on) with backpressure; headers are flushed as soon as the Response exists.
 * - If the body stream errors, the socket is destroyed so the client sees a broken response, not a clean end.
 * - If the client goes away, the body stream is cancelled (the handler's `cancel` runs).
 * - Zero-copy hooks for handlers that know them (RAW_BODY / READS_RAW_BODY / DIRECT_BODY below); other handlers
 *   see plain web Request/Response objects.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FetchHandler = (req: Request) => Promise<Response>;

/**
 * Zero-copy hooks between this adapter and a handler that knows them (the capture handler); any other handler
 * just sees a plain Request/Response.
 * - `RAW_BODY` on the Request: the request body bytes as read from the socket (the handler may use them instead
 *   of `await req.arrayBuffer()`, which copies them through a web stream).
 * - `DIRECT_BODY` on the Response: a chunk source the adapter reads instead of the web ReadableStream (which is
 *   then never touched), so each chunk goes straight from the upstream to `res.write`.
 */
export const RAW_BODY = Symbol.for('trace.capture.rawBody');
export const DIRECT_BODY = Symbol.for('trace.capture.directBody');
/**
 * Set (true) on a handler that reads request bodies only through `rawBodyOf`: the adapter then builds its
 * Request without a web body stream (saves a ReadableStream per request).
 */
export const READS_RAW_BODY = Symbol.for('trace.capture.readsRawBody');

const NOT_YET = Symbol('not yet');
/** Resolves with NOT_YET in the next check phase (after the I/O already received has been handled). */
const nextTurn = (): Promise<typeof NOT_YET> => new Promise((r) => setImmediate(() => r(NOT_YET)));

export interface DirectBody {
  /** Next chunk, or null at the end; rejects when the source broke. */
  read(): Promise<Uint8Array | null>;
  /** The client went away: stop the source. */
  cancel(reason?: unknown): void;
}

/** The raw request body the adapter attached, if any. */
export function rawBodyOf(req: Request): Uint8Array | undefined {
  return (req as unknown as { [RAW_BODY]?: Uint8Array })[RAW_BODY];
}

/** Attaches a direct chunk source to a Response whose body stream reads from the same source. */
export function withDirectBody(res: Response, direct: DirectBody): Response {
  Object.defineProperty(res, DIRECT_BODY, { value: direct });
  return res;
}

export interface ListenOptions {
  port?: number;
  host?: string;
  /** Called when the handler itself throws (the client gets a 500). */
  onError?: (e: unknown) => void;
  /** Called for what the adapter skipped or could not clean up (a header value web Headers rejects, a failed cancel). */
  onWarning?: (message: string) => void;
}

export interface Listening {
  /** `http://HOST:PORT` (no trailing slash). */
  url: string;
  host: string;
  port: number;
  server: Server;
  /** Stops accepting, destroys open connections, resolves when closed. */
  close(): Promise<void>;
}

export async function listen(handler: FetchHandler, options: ListenOptions = {}): Promise<Listening> {
  const host = options.host ?? '127.0.0.1';
  const sockets = new Set<Socket>();
  const server = createServer({ noDelay: true, keepAlive: true, requestTimeout: 0, headersTimeout: 0 }, (req, res) => {
    void serve(handler, req, res, host, options.onError, options.onWarning ?? (() => undefined));
  });
  server.keepAliveTimeout = 65_000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // A deep accept queue: Claude Code sub-agents and load tests open many connections in the same instant.
    server.listen({ port: options.port ?? 0, host, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${addr.port}`,
    host: addr.address,
    port: addr.port,
    server,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closed;
    },
  };
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.once('error', reject);
    req.once('close', () => {
      if (!req.complete) reject(new Error('client disconnected while sending the request'));
    });
  });
}

function toWebHeaders(req: IncomingMessage, warn: (m: string) => void): Headers {
  const h = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    try {
      h.append(raw[i]!, raw[i + 1]!);
    } catch (e) {
      // a header web Headers rejects: skipped (neither forwarded nor recorded) rather than failing the request
      warn(`skipped request header ${JSON.stringify(raw[i])}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return h;
}

function toNodeHeaders(headers: Headers): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of headers) {
    if (k === 'set-cookie') continue;
    out[k] = v;
  }
  const cookies = headers.getSetCookie();
  if (cookies.length > 0) out['set-cookie'] = cookies;
  return out;
}

async function serve(
  handler: FetchHandler,
  req: IncomingMessage,
  res: ServerResponse,
  host: string,
  onError: ((e: unknown) => void) | undefined,
  warn: (message: string) => void,
): Promise<void> {
  const cancelFailed = (e: unknown) => warn(`cannot cancel a response body: ${e instanceof Error ? e.message : String(e)}`);
  const ac = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) ac.abort(new Error('client disconnected'));
  };
  res.on('close', onClose);
  let response: Response;
  try {
    const method = req.method ?? 'GET';
    const body = method === 'GET' || method === 'HEAD' ? undefined : await readAll(req);
    const url = `http://${req.headers.host ?? host}${req.url ?? '/'}`;
    const rawOnly = (handler as { [READS_RAW_BODY]?: boolean })[READS_RAW_BODY] === true;
    const request = new Request(url, {
      // Node's fetch needs `duplex` for request bodies
      method,
      headers: toWebHeaders(req, warn),
      body: rawOnly ? undefined : body && body.length > 0 ? body : method === 'GET' || method === 'HEAD' ? undefined : body,
      signal: ac.signal,
      duplex: 'half',
    });
    if (body) Object.defineProperty(request, RAW_BODY, { value: body });
    response = await handler(request);
  } catch (e) {
    if (ac.signal.aborted) return;
    onError?.(e);
    if (!res.headersSent) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'error', error: { type: 'api_error', message: 'internal proxy error' } }));
    } else res.destroy();
    return;
  }
  if (ac.signal.aborted) {
    await response.body?.cancel().catch(cancelFailed);
    return;
  }
  res.writeHead(response.status, response.statusText || undefined, toNodeHeaders(response.headers));
  if (!response.body || req.method === 'HEAD') {
    await response.body?.cancel().catch(cancelFailed);
    res.end();
    return;
  }
  const direct = (response as unknown as { [DIRECT_BODY]?: DirectBody })[DIRECT_BODY];
  let read: () => Promise<Uint8Array | null>;
  let cancel: (reason: unknown) => void;
  if (direct && !response.body.locked && !response.bodyUsed) {
    read = () => direct.read();
    cancel = (reason) => direct.cancel(reason);
  } else {
    const reader = response.body.getReader();
    read = async () => {
      const r = await reader.read();
      return r.done ? null : r.value;
    };
    cancel = (reason) => void reader.cancel(reason).catch(cancelFailed);
  }
  // Writes not yet flushed to the socket (one shared callback, no promise per chunk).
  let unflushed = 0;
  let flushedWaiter: (() => void) | undefined;
  const onFlushed = () => {
    unflushed--;
    if (unflushed === 0 && flushedWaiter) {
      const f = flushedWaiter;
      flushedWaiter = undefined;
      f();
    }
  };
  const onAbort = () => cancel(ac.signal.reason);
  ac.signal.addEventListener('abort', onAbort, { once: true });
  try {
    // The head goes out with the first chunk when that chunk is already here (one socket write, not two);
    // otherwise at once, so the client sees the headers as soon as the upstream sent them.
    let pending: Promise<Uint8Array | null> | null = read();
    const early = await Promise.race([pending.then((v) => v ?? NOT_YET, () => NOT_YET), nextTurn()]);
    if (early === NOT_YET) res.flushHeaders();
    for (;;) {
      const value = await (pending ?? read());
      pending = null;
      if (value === null) break;
      if (res.destroyed) return;
      unflushed++;
      res.write(value, onFlushed);
      if (res.writableNeedDrain) {
        await new Promise<void>((resolve) => {
          const go = () => {
            res.off('drain', go);
            res.off('close', go);
            resolve();
          };
          res.on('drain', go);
          res.on('close', go);
        });
      }
    }
    res.end();
  } catch (e) {
    // Upstream broke mid-body: break the client's connection too (no clean chunked terminator).
    void e;
    // Let the bytes that did arrive reach the client first, then break the connection.
    if (unflushed > 0) {
      await Promise.race([new Promise<void>((r) => (flushedWaiter = r)), new Promise((r) => setTimeout(r, 1000).unref())]);
    }
    res.destroy();
  } finally {
    ac.signal.removeEventListener('abort', onAbort);
  }
}
