import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';

/**
 * Thin node:http adapter for a web-standard `(req: Request) => Promise<Response>` handler. Response bodies are
 * written chunk by chunk as the handler's stream produces them (SSE), with Nagle disabled; when the client
 * disconnects before the response finished, the Request's signal aborts and the body stream is cancelled.
 */
export interface Listening {
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

export type WebHandler = (req: Request) => Promise<Response>;

export async function listen(handler: WebHandler, opts: { host?: string; port?: number; onError?: (e: unknown) => void } = {}): Promise<Listening> {
  const host = opts.host ?? '127.0.0.1';
  const server = createServer((req, res) => void serveOne(handler, req, res, opts.onError));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    host,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function serveOne(handler: WebHandler, req: IncomingMessage, res: ServerResponse, onError?: (e: unknown) => void): Promise<void> {
  const ac = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) ac.abort(new Error('client disconnected'));
  });
  req.socket.setNoDelay(true);
  try {
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const x of v) headers.append(k, x);
      else headers.set(k, v);
    }
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    const request = new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, {
      method: req.method,
      headers,
      body: hasBody ? (Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>) : undefined,
      signal: ac.signal,
      // Node's fetch needs duplex for streamed request bodies.
      duplex: 'half',
    } as RequestInit);
    const response = await handler(request);
    const outHeaders: Record<string, string | string[]> = {};
    response.headers.forEach((v, k) => {
      outHeaders[k] = v;
    });
    res.writeHead(response.status, outHeaders);
    if (!response.body || req.method === 'HEAD') {
      res.end();
      return;
    }
    const reader = response.body.getReader();
    ac.signal.addEventListener('abort', () => void reader.cancel().catch(() => {}), { once: true });
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await new Promise<void>((r) => res.once('drain', r).once('close', r));
      if (ac.signal.aborted) break;
    }
    res.end();
  } catch (e) {
    onError?.(e);
    if (!res.headersSent) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'error', error: { type: 'api_error', message: String(e) } }));
    } else res.destroy();
  }
}
