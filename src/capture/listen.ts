/**
 * Thin node:http adapter for web-standard handlers `(req: Request) => Promise<Response>`.
 *
 * - The request body is read fully, then handed over as a Request whose `signal` aborts when the client
 *   disconnects before the response has finished.
 * - The response is written chunk by chunk as the handler's body stream yields (each chunk is written and
 *   flushed immediately; TCP_NODELAY is on) with backpressure; headers are flushed as soon as the Response exists.
 * - If the body stream errors, the socket is destroyed so the client sees a broken response, not a clean end.
 * - If the client goes away, the body stream is cancelled (the handler's `cancel` runs).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FetchHandler = (req: Request) => Promise<Response>;

export interface ListenOptions {
  port?: number;
  host?: string;
  /** Called when the handler itself throws (the client gets a 500). */
  onError?: (e: unknown) => void;
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
    void serve(handler, req, res, host, options.onError);
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

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function toWebHeaders(req: IncomingMessage): Headers {
  const h = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    try {
      h.append(raw[i]!, raw[i + 1]!);
    } catch {
      // a header value web Headers rejects: skip it rather than fail the request
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
  onError?: (e: unknown) => void,
): Promise<void> {
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
    const request = new Request(url, {
      // Node's fetch needs `duplex` for request bodies
      method,
      headers: toWebHeaders(req),
      body: body && body.length > 0 ? body : method === 'GET' || method === 'HEAD' ? undefined : body,
      signal: ac.signal,
      duplex: 'half',
    });
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
    await response.body?.cancel().catch(() => {});
    return;
  }
  res.writeHead(response.status, response.statusText || undefined, toNodeHeaders(response.headers));
  res.flushHeaders();
  if (!response.body || req.method === 'HEAD') {
    await response.body?.cancel().catch(() => {});
    res.end();
    return;
  }
  const reader = response.body.getReader();
  let lastWrite: Promise<void> = Promise.resolve();
  const onAbort = () => void reader.cancel(ac.signal.reason).catch(() => {});
  ac.signal.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (res.destroyed) return;
      const flushed = new Promise<void>((resolve) => res.write(value, () => resolve()));
      lastWrite = flushed;
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
    await Promise.race([lastWrite, new Promise((r) => setTimeout(r, 1000).unref())]);
    res.destroy();
  } finally {
    ac.signal.removeEventListener('abort', onAbort);
  }
}
