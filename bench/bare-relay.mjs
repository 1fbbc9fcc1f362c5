/**
 * The floor for any Node proxy on this machine: a bare relay (node:http server → undici → the same upstream, each
 * response chunk written as it arrives), no parsing, no recording. `bench proxy` runs it beside `trace capture` so
 * the added TTFT splits into "one more HTTP hop in Node" and "what capture adds on top".
 * Usage: node bench/bare-relay.mjs <upstream origin>; prints `listening on http://127.0.0.1:PORT`.
 */
import { createServer } from 'node:http';
import { Agent, request } from 'undici';

const upstream = process.argv[2];
const agent = new Agent({ connections: 256, headersTimeout: 0, bodyTimeout: 0 });
const HOP = new Set(['host', 'content-length', 'connection', 'keep-alive', 'transfer-encoding']);

const server = createServer({ noDelay: true, keepAlive: true, requestTimeout: 0 }, async (req, res) => {
  const parts = [];
  for await (const c of req) parts.push(c);
  const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !HOP.has(k)));
  try {
    const up = await request(upstream + req.url, { method: req.method, headers, body: parts.length ? Buffer.concat(parts) : undefined, dispatcher: agent });
    res.writeHead(up.statusCode, Object.fromEntries(Object.entries(up.headers).filter(([k]) => !HOP.has(k))));
    for await (const c of up.body) res.write(c);
    res.end();
  } catch {
    res.destroy();
  }
});
server.listen(0, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
