/**
 * The conversation explorer's page code: plain DOM/SVG JavaScript and CSS, inlined into the report and served by
 * the live view (no framework, no network). `TraceExplorer(root, model, details)` draws
 * - a summary line (requests, in flight, errors, running API hit rate),
 * - a swimlane per agent (one bar per request from send to end, coloured by cache hit; sub-agent fan-out and
 *   join drawn; gaps labelled tool time vs user pause),
 * - the conversation / agent / sub-agent tree with one row per request (status, TTFT, duration, tokens, cache),
 * - a detail panel on click: messages (long blocks collapsed, tool_use/tool_result paired), tools with token
 *   counts, the response, usage API vs simulated with the miss reason.
 * `details(id)` returns a Promise of the request's detail (embedded in the report, fetched in the live view).
 * The returned object has `update(model)` (the live view calls it on server push).
 */
export const EXPLORER_CSS = `
.tx{font:13px system-ui,sans-serif;color:#222}
.tx .stats{margin:6px 0 10px;font-size:14px}.tx .stats b{margin-right:14px}
.tx svg.lanes{border:1px solid #ddd;background:#fafafa;display:block}
.tx svg.lanes text{font:11px system-ui,sans-serif;fill:#333}
.tx svg.lanes .bar{cursor:pointer;stroke:#0003}.tx svg.lanes .bar:hover{stroke:#000;stroke-width:1.5}
.tx svg.lanes .pending{fill:url(#tx-stripes);stroke:#555}
.tx svg.lanes .gap{font-size:10px;fill:#777}
.tx .cols{display:flex;gap:14px;align-items:flex-start;margin-top:10px}
.tx .tree{flex:1 1 60%;max-height:640px;overflow:auto}.tx .detail{flex:1 1 40%;max-height:640px;overflow:auto;border:1px solid #ddd;padding:8px;min-height:120px}
.tx ul{list-style:none;margin:0;padding-left:16px}.tx .tree>ul{padding-left:0}
.tx .agent>.head{font-weight:600;margin:6px 0 2px}.tx .role{font-weight:400;color:#666;font-size:12px}
.tx table.reqs{border-collapse:collapse;font-variant-numeric:tabular-nums}
.tx table.reqs td,.tx table.reqs th{padding:1px 6px;text-align:right;white-space:nowrap}.tx table.reqs th{color:#666;font-weight:400;border-bottom:1px solid #ccc}
.tx table.reqs td:first-child,.tx table.reqs th:first-child{text-align:left}
.tx tr.req{cursor:pointer}.tx tr.req:hover{background:#eef}.tx tr.req.sel{background:#dde6ff}
.tx tr.req.pending td:first-child::after{content:" ● in flight";color:#c60}
.tx tr.req.error{color:#b00}
.tx .msg{border-left:3px solid #ccc;margin:6px 0;padding:2px 8px}.tx .msg.user{border-color:#1f77b4}.tx .msg.assistant{border-color:#2ca02c}
.tx .blk{white-space:pre-wrap;word-break:break-word;font:12px ui-monospace,monospace;margin:3px 0}
.tx .tu{background:#f3f7ff}.tx .tr{background:#f5fff3}.tx .tr.err{background:#fff3f3}
.tx details>summary{cursor:pointer;color:#555}
.tx table.usage td,.tx table.usage th{padding:2px 8px;text-align:right}.tx table.usage td:first-child{text-align:left}
.tx .legend span{display:inline-block;margin-right:12px}.tx .sw{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:middle}
`;

export const EXPLORER_JS = String.raw`
function TraceExplorer(root, model, details) {
  const NS = 'http://www.w3.org/2000/svg';
  let M = model, selected = null;
  const el = (tag, attrs, ...kids) => { const e = document.createElement(tag); for (const k in attrs || {}) { if (k === 'class') e.className = attrs[k]; else if (k.startsWith('on')) e.addEventListener(k.slice(2), attrs[k]); else e.setAttribute(k, attrs[k]); } for (const c of kids) if (c !== null && c !== undefined) e.append(c.nodeType ? c : String(c)); return e; };
  const sv = (tag, attrs) => { const e = document.createElementNS(NS, tag); for (const k in attrs) e.setAttribute(k, attrs[k]); return e; };
  const num = (n) => n === null || n === undefined ? '–' : n.toLocaleString('en-US');
  const ms = (x) => x === null || x === undefined ? '–' : x >= 10000 ? (x / 1000).toFixed(1) + ' s' : x >= 1000 ? (x / 1000).toFixed(2) + ' s' : Math.round(x) + ' ms';
  const pct = (x) => x === null || x === undefined ? '–' : (x * 100).toFixed(1) + '%';
  const apiHit = (r) => r.usage && r.usage.context > 0 ? r.usage.cacheRead / r.usage.context : null;
  const hitOf = (r) => { const a = apiHit(r); return a !== null ? a : r.sim ? r.sim.hitRate : null; };
  const colour = (h) => h === null ? '#999' : 'hsl(' + Math.round(h * 120) + ',65%,' + (45 + 10 * (1 - h)) + '%)';
  const stats = el('div', { class: 'stats' });
  const legend = el('div', { class: 'legend' },
    el('span', {}, el('i', { class: 'sw', style: 'background:' + colour(1) }), 'cache hit'),
    el('span', {}, el('i', { class: 'sw', style: 'background:' + colour(0.5) }), 'partial'),
    el('span', {}, el('i', { class: 'sw', style: 'background:' + colour(0) }), 'miss'),
    el('span', {}, el('i', { class: 'sw', style: 'background:#999' }), 'no usage'),
    el('span', {}, '— fan-out / join ┄ ; gaps: tool = tool time, user = user pause'));
  const lanes = sv('svg', { class: 'lanes' });
  const tree = el('div', { class: 'tree' });
  const detail = el('div', { class: 'detail' }, el('i', {}, 'Click a request (a bar or a row) to see its messages, tools, response and usage.'));
  root.classList.add('tx');
  root.append(stats, legend, lanes, el('div', { class: 'cols' }, tree, detail));

  function drawStats() {
    const rs = M.requests; let read = 0, ctx = 0, inflight = 0, errors = 0;
    for (const r of rs) { if (r.state === 'pending') inflight++; if (r.state === 'error') errors++; if (r.usage) { read += r.usage.cacheRead; ctx += r.usage.context; } }
    stats.replaceChildren(el('b', { 'data-stat': 'requests' }, rs.length + ' requests'), el('b', { 'data-stat': 'inflight' }, inflight + ' in flight'),
      el('b', {}, errors + ' errors'), el('b', { 'data-stat': 'hit' }, 'API hit rate ' + pct(ctx > 0 ? read / ctx : null)), el('b', {}, M.agents.length + ' agents'));
  }

  function drawLanes() {
    const W = Math.max(600, Math.min(1400, root.clientWidth || 1000)), L = 150, H = 22, top = 18;
    const rs = M.requests.filter((r) => r.start !== null);
    const now = Date.now();
    const t0 = Math.min(...rs.map((r) => r.start)), t1 = Math.max(...rs.map((r) => r.end !== null ? r.end : (M.live ? now : r.start + 1)), t0 + 1);
    const x = (t) => L + (t - t0) / (t1 - t0) * (W - L - 10);
    const row = new Map(M.agents.map((a, i) => [a.id, i]));
    lanes.replaceChildren();
    lanes.setAttribute('width', W); lanes.setAttribute('height', top + H * M.agents.length + 6);
    const defs = sv('defs', {}); const pat = sv('pattern', { id: 'tx-stripes', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' });
    pat.append(sv('rect', { width: 3, height: 6, fill: '#f0a040' })); defs.append(pat); lanes.append(defs);
    for (let k = 0; k <= 4; k++) { const t = t0 + (t1 - t0) * k / 4; const tx = sv('text', { x: x(t), y: 12, 'text-anchor': k === 0 ? 'start' : k === 4 ? 'end' : 'middle' }); tx.textContent = ((t - t0) / 1000).toFixed(1) + ' s'; lanes.append(tx); }
    M.agents.forEach((a, i) => {
      const y = top + i * H; const t = sv('text', { x: 4 + 10 * a.depth, y: y + 15 }); t.textContent = a.label + (a.role === 'sub-agent' ? ' ↳' : ''); lanes.append(t);
      lanes.append(sv('line', { x1: L, x2: W - 10, y1: y + H / 2, y2: y + H / 2, stroke: '#e4e4e4' }));
    });
    const byAgent = new Map();
    for (const r of rs) { if (!byAgent.has(r.agentId)) byAgent.set(r.agentId, []); byAgent.get(r.agentId).push(r); }
    // fan-out (parent lane → first request) and join (last request end → parent lane)
    for (const a of M.agents) {
      const mine = byAgent.get(a.id); if (!a.parent || !mine || !row.has(a.parent)) continue;
      const py = top + row.get(a.parent) * H + H / 2, cy = top + row.get(a.id) * H + H / 2;
      const s = mine[0].start, e = Math.max(...mine.map((r) => r.end !== null ? r.end : now));
      lanes.append(sv('path', { d: 'M' + x(s) + ' ' + py + ' L' + x(s) + ' ' + cy, stroke: '#555', 'stroke-width': 1, fill: 'none', class: 'fan' }));
      if (mine.every((r) => r.end !== null)) lanes.append(sv('path', { d: 'M' + x(e) + ' ' + cy + ' L' + x(e) + ' ' + py, stroke: '#555', 'stroke-dasharray': '3 2', fill: 'none', class: 'join' }));
    }
    for (const [agentId, list] of byAgent) {
      const y = top + row.get(agentId) * H;
      let prev = null;
      for (const r of list) {
        const e = r.end !== null ? r.end : (M.live ? now : r.start);
        const bx = x(r.start), bw = Math.max(2, x(e) - bx);
        const b = sv('rect', { x: bx, y: y + 4, width: bw, height: H - 8, rx: 2, class: 'bar' + (r.state === 'pending' ? ' pending' : ''), fill: colour(hitOf(r)), 'data-id': r.id });
        const tt = sv('title', {}); tt.textContent = r.short + ' · ' + (r.state === 'pending' ? 'in flight' : ms(e - r.start)) + ' · hit ' + pct(hitOf(r)); b.append(tt);
        b.addEventListener('click', () => select(r.id)); lanes.append(b);
        if (prev && r.gap && x(r.start) - x(prev) > 34) { const g = sv('text', { x: (x(prev) + x(r.start)) / 2, y: y + 15, 'text-anchor': 'middle', class: 'gap' }); g.textContent = r.gap.kind + ' ' + ms(r.gap.ms); lanes.append(g); }
        prev = e;
      }
    }
  }

  function drawTree() {
    const byAgent = new Map();
    for (const r of M.requests) { if (!byAgent.has(r.agentId)) byAgent.set(r.agentId, []); byAgent.get(r.agentId).push(r); }
    const kids = new Map(); const ids = new Set(M.agents.map((a) => a.id));
    for (const a of M.agents) { const p = a.parent && ids.has(a.parent) ? a.parent : null; if (!kids.has(p)) kids.set(p, []); kids.get(p).push(a); }
    const convs = new Map();
    const agentNode = (a) => {
      const rows = (byAgent.get(a.id) || []).map((r) => el('tr', { class: 'req ' + r.state + (r.id === selected ? ' sel' : ''), 'data-id': r.id, onclick: () => select(r.id) },
        el('td', {}, r.short), el('td', {}, r.status === null ? (r.state === 'pending' ? '…' : '–') : r.status), el('td', {}, ms(r.ttftMs)),
        el('td', {}, r.end !== null && r.start !== null ? ms(r.end - r.start) : '–'),
        el('td', {}, num(r.usage && r.usage.context)), el('td', {}, num(r.usage && r.usage.output)),
        el('td', {}, num(r.usage && r.usage.cacheRead)), el('td', {}, num(r.usage && r.usage.cacheCreation)), el('td', {}, pct(apiHit(r))),
        el('td', {}, r.sim ? pct(r.sim.hitRate) : '–')));
      const tbl = el('table', { class: 'reqs' }, el('tr', {}, ...['request', 'status', 'TTFT', 'duration', 'in', 'out', 'cache read', 'cache write', 'API hit', 'sim hit'].map((h) => el('th', {}, h))), ...rows);
      const sub = (kids.get(a.id) || []).map(agentNode);
      return el('li', { class: 'agent', 'data-agent': a.id, 'data-role': a.role, 'data-parent': a.parent || '' },
        el('div', { class: 'head' }, a.label + ' ', el('span', { class: 'role' }, a.role + (a.role === 'sub-agent' ? ' of ' + (M.agents.find((p) => p.id === a.parent) || { label: '?' }).label : '') + ' · ' + (byAgent.get(a.id) || []).length + ' requests')),
        tbl, sub.length ? el('ul', {}, ...sub) : null);
    };
    for (const a of kids.get(null) || []) { if (!convs.has(a.conversationId)) convs.set(a.conversationId, []); convs.get(a.conversationId).push(agentNode(a)); }
    const ul = el('ul', {});
    for (const [c, nodes] of convs) ul.append(el('li', { class: 'conv', 'data-conversation': c }, el('div', { class: 'head' }, 'conversation ' + c.slice(0, 12)), el('ul', {}, ...nodes)));
    const scroll = tree.scrollTop; tree.replaceChildren(ul); tree.scrollTop = scroll;
  }

  const block = (b, pairs) => {
    const long = (b.text || b.input || '').length > 600;
    const body = (t, cls) => { const pre = el('div', { class: 'blk ' + cls }, t); return long ? el('details', {}, el('summary', {}, (b.type === 'tool_use' ? 'tool_use ' + b.name : b.type) + ' (' + (t || '').length + ' chars)'), pre) : pre; };
    if (b.type === 'tool_use') return el('div', { 'data-tool-use': b.id }, body('▶ tool_use ' + b.name + ' ' + (b.input || ''), 'tu'), pairs && pairs.has(b.id) ? block(pairs.get(b.id), null) : null);
    if (b.type === 'tool_result') return body('◀ tool_result' + (b.isError ? ' (error)' : '') + ' ' + (b.text || ''), 'tr' + (b.isError ? ' err' : ''));
    return body(b.text || '', b.type);
  };

  function usageTable(r) {
    const u = r.usage, s = r.sim;
    const rows = [['context / input tokens', u ? u.context : null, s ? s.input : null], ['cache read', u ? u.cacheRead : null, s ? s.read : null], ['cache write', u ? u.cacheCreation : null, s ? s.creation : null], ['uncached', u ? u.input : null, s ? s.uncached : null]];
    return el('table', { class: 'usage' }, el('tr', {}, el('th', {}, ''), el('th', {}, 'API'), el('th', {}, 'simulated')),
      ...rows.map(([k, a, b]) => el('tr', {}, el('td', {}, k), el('td', {}, num(a)), el('td', {}, num(b)))),
      el('tr', { 'data-usage': 'hit' }, el('td', {}, 'hit rate'), el('td', {}, pct(apiHit(r))), el('td', {}, s ? pct(s.hitRate) : '–')),
      el('tr', {}, el('td', {}, 'miss reason'), el('td', {}, ''), el('td', {}, s ? (s.miss || 'none') : '–')),
      el('tr', {}, el('td', {}, 'output'), el('td', {}, num(u && u.output)), el('td', {}, '')));
  }

  async function select(id) {
    selected = id; drawTree();
    const r = M.requests.find((q) => q.id === id); if (!r) return;
    const head = el('div', {}, el('b', {}, 'request ' + r.id), ' · ' + (r.model || '') + ' · ' + (r.state === 'pending' ? 'in flight' : 'status ' + (r.status === null ? '–' : r.status)) + ' · TTFT ' + ms(r.ttftMs) + (r.gap ? ' · after ' + r.gap.kind + ' ' + ms(r.gap.ms) : ''));
    detail.replaceChildren(head, el('h4', {}, 'Usage: API vs simulated'), usageTable(r));
    if (!M.hasContent) { detail.append(el('p', {}, 'Block-level source: no request content.')); return; }
    let d; try { d = await details(id); } catch (e) { detail.append(el('p', {}, 'cannot load the request: ' + e)); return; }
    if (selected !== id || !d) return;
    const results = new Map();
    for (const m of d.messages) for (const b of m.blocks) if (b.type === 'tool_result') results.set(b.toolUseId, b);
    const msgs = el('div', { class: 'messages' }, ...d.messages.map((m, i) => el('div', { class: 'msg ' + m.role, 'data-message': i }, el('small', {}, '#' + i + ' ' + m.role),
      ...m.blocks.filter((b) => !(b.type === 'tool_result' && d.messages.some((mm) => mm.blocks.some((x) => x.type === 'tool_use' && x.id === b.toolUseId)))).map((b) => block(b, results)))));
    detail.append(el('h4', {}, 'Messages (' + d.messages.length + ')'), msgs,
      el('h4', {}, 'Response' + (d.stopReason ? ' (' + d.stopReason + ')' : '')), el('div', { class: 'msg assistant' }, ...d.response.map((b) => block(b, null))),
      d.error ? el('p', { class: 'err' }, 'error: ' + d.error) : null,
      el('details', {}, el('summary', {}, 'Tools (' + d.tools.length + ', ' + num(d.tools.reduce((s, t) => s + (t.tokens || 0), 0)) + ' tokens)'),
        el('table', { class: 'usage' }, ...d.tools.slice().sort((a, b) => (b.tokens || 0) - (a.tokens || 0)).map((t) => el('tr', {}, el('td', {}, t.name), el('td', {}, num(t.tokens)))))),
      el('details', {}, el('summary', {}, 'System (' + d.system.length + ' blocks)'), ...d.system.map((s) => el('div', { class: 'blk' }, s))));
  }

  function draw() { drawStats(); if (M.requests.length) drawLanes(); drawTree(); }
  let queued = false;
  draw();
  return {
    update(m) { M = m; if (queued) return; queued = true; requestAnimationFrame(() => { queued = false; draw(); }); },
    select,
    get model() { return M; },
  };
}
`;
