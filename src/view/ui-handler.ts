/**
 * The live view's HTTP surface under `/_trace/` (served on the capture proxy's own port with `--ui`, or by
 * `trace view`): the page, the model, one request's detail, and the SSE stream. Unknown paths and ids answer
 * 404; a failure answers 500 and never escapes into the proxy.
 */
import type { LiveHub } from './live-hub.js';
import type { ExplorerDetail } from '../report/explorer/explorer-model.js';
import { EXPLORER_CSS, EXPLORER_JS } from '../report/explorer/explorer-assets.js';
import type { Logger } from '../shared/logger.js';
import { errorMessage } from '../shared/errors.js';

export interface UiHandlerOptions {
  hub: LiveHub;
  /** One request's detail (bodies as stored: secrets already hashed by capture); null when unknown. */
  detail: (id: string) => Promise<ExplorerDetail | null>;
  logger: Logger;
  title?: string;
}

const json = (v: unknown, status = 200) =>
  new Response(JSON.stringify(v), { status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } });
const notFound = (what: string) => json({ error: { type: 'not_found', message: what } }, 404);

export const UI_PREFIX = '/_trace/';

export function createUiHandler(o: UiHandlerOptions): (req: Request) => Promise<Response> {
  const page = livePage(o.title ?? 'trace live view');
  return async (req) => {
    try {
      const path = new URL(req.url).pathname;
      if (req.method !== 'GET' && req.method !== 'HEAD') return json({ error: { type: 'method_not_allowed', message: 'GET only' } }, 405);
      if (path === '/_trace/' || path === '/_trace/ui' || path === '/_trace/ui/') {
        return new Response(page, { headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' } });
      }
      if (path === '/_trace/api/model') return json(o.hub.snapshot());
      if (path === '/_trace/events') {
        return new Response(o.hub.subscribe(), {
          headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no' },
        });
      }
      const m = /^\/_trace\/api\/requests\/([^/]+)$/.exec(path);
      if (m) {
        let id: string;
        try {
          id = decodeURIComponent(m[1]!);
        } catch {
          return notFound('bad request id');
        }
        const d = await o.detail(id);
        return d ? json(d) : notFound(`no request ${JSON.stringify(id)}`);
      }
      return notFound(`no such page: ${path}`);
    } catch (e) {
      o.logger.error(`live view: ${errorMessage(e)}`);
      return json({ error: { type: 'internal', message: errorMessage(e) } }, 500);
    }
  };
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** The live page: the explorer, fed by `/_trace/events` (model on connect, then updates; resync → reload model). */
function livePage(title: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>${esc(title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:16px;color:#222}h1{font-size:18px;margin:0 0 4px}#conn{color:#777;font-size:12px}${EXPLORER_CSS}</style></head>
<body><h1>${esc(title)}</h1><div id="conn">connecting…</div><div id="explorer"></div>
<script>${EXPLORER_JS}</script>
<script>
let X = null;
const byId = new Map();
const conn = document.getElementById('conn');
const apply = (m) => { byId.clear(); for (const r of m.requests) byId.set(r.id, r); render(m.agents, m.hasContent); };
let agents = [], hasContent = true;
function render(a, hc) {
  if (a) agents = a; if (hc !== undefined) hasContent = hc;
  const model = { live: true, agents, requests: [...byId.values()].sort((x, y) => (x.start || 0) - (y.start || 0)), hasContent };
  if (!X) X = TraceExplorer(document.getElementById('explorer'), model, (id) => fetch('/_trace/api/requests/' + encodeURIComponent(id)).then((r) => r.ok ? r.json() : null));
  else X.update(model);
  window.traceModel = model;
}
function connect() {
  const es = new EventSource('/_trace/events');
  es.addEventListener('open', () => { conn.textContent = 'live: requests appear as they arrive'; });
  es.addEventListener('model', (e) => apply(JSON.parse(e.data)));
  es.addEventListener('update', (e) => { const u = JSON.parse(e.data); for (const r of u.requests) byId.set(r.id, r); render(u.agents); });
  es.addEventListener('resync', () => fetch('/_trace/api/model').then((r) => r.json()).then(apply));
  es.addEventListener('error', () => { conn.textContent = 'disconnected; retrying…'; });
}
connect();
setInterval(() => { if (X && X.model.requests.some((r) => r.state === 'pending')) X.update(X.model); }, 1000);
</script></body></html>
`;
}
