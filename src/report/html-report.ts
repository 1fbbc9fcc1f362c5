import { readFileSync } from 'node:fs';
import { fmtUsd, type CostSummary } from '../analyze/cost.js';
import { createRequire } from 'node:module';
import type { SimulationResult } from '../analyze/cache/simulator.js';
import type { SweepResult } from '../analyze/cache/sweep.js';
import type { AnalysisResult } from '../analyze/analyze-requests.js';
import { simulationAgents, type ExplorerModel, type PooledDetails } from './explorer/explorer-model.js';
import { EXPLORER_CSS, EXPLORER_JS } from './explorer/explorer-assets.js';

/** Everything the report shows; built by the CLI from a simulation (with working set) and a TTL sweep. */
export interface ReportInput {
  title: string;
  source: { path: string; kind: string; blockSize: number; requests: number; uniqueBlocks: number };
  simulation: SimulationResult;
  ttlSweep: SweepResult | null;
  /** Content sources: the analysis summary (conversations, agents, API tokens, timing); null for block sources. */
  analysis?: AnalysisResult | null;
  generatedAt: string;
  /** The conversation explorer: its model, and the pooled request details (null for block-level sources). */
  explorer?: { model: ExplorerModel; details: PooledDetails | null };
}

/** The chart ids the page renders (tests check each canvas). */
export const REPORT_CHARTS = ['api-vs-sim', 'hit-rate', 'context', 'cache-split', 'ttl-sweep', 'working-set', 'timeline'] as const;

function uplotAssets(): { js: string; css: string } {
  const req = createRequire(import.meta.url);
  return {
    js: readFileSync(req.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(req.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)}%`);
/** JSON safe to embed in a <script> element. */
const embed = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028|\u2029/g, '');

/** Chart data in column form (uPlot's aligned arrays), computed here so the page only draws. */
export function reportData(input: ReportInput) {
  const sim = input.simulation;
  const reqs = sim.requests;
  const agents = [...new Set(reqs.map((r) => r.agentId))];
  // Roles from the explorer's agents (the conversation index) when known, else from the simulation's parents.
  const known = new Map((input.explorer?.model.agents ?? simulationAgents(reqs)).map((a) => [a.id, a]));
  const agentLabels = agents.map((a) => {
    const x = known.get(a);
    if (!x) return a.slice(0, 12);
    const parent = x.parent ? known.get(x.parent) : undefined;
    return x.role === 'sub-agent' ? `${x.label} (sub-agent of ${parent?.label ?? 'main'})` : x.label === x.role ? x.label : `${x.label} (${x.role})`;
  });
  const apiRate = input.simulation.overall.apiHitRate;
  const times = [...new Set(reqs.map((r) => r.t))].sort((a, b) => a - b);
  const tIndex = new Map(times.map((t, i) => [t, i]));
  const perAgent = (val: (r: (typeof reqs)[number]) => number | null) =>
    agents.map((a) => {
      const col: (number | null)[] = new Array(times.length).fill(null);
      for (const r of reqs) if (r.agentId === a) col[tIndex.get(r.t)!] = val(r);
      return col;
    });
  const idx = reqs.map((_, i) => i + 1);
  const read = reqs.map((r) => r.readTokens);
  const created = reqs.map((r) => r.readTokens + r.creationTokens);
  const all = reqs.map((r) => r.readTokens + r.creationTokens + r.uncachedTokens);
  const timeline = agents.map((a, i) => {
    const rs = reqs.filter((r) => r.agentId === a);
    const start = rs[0]!.t;
    const end = Math.max(...rs.map((r) => r.writtenAt), start);
    return { agent: a, row: i + 1, start, end, requests: rs.length };
  });
  const tlX = [...new Set(timeline.flatMap((b) => [b.start, b.end]))].sort((a, b) => a - b);
  const tlSeries = timeline.map((b) => tlX.map((x) => (x >= b.start && x <= b.end ? b.row : null)));
  const withApi = reqs.filter((r) => r.api);
  return {
    agents,
    agentLabels,
    apiVsSim: [withApi.map((_, i) => i + 1), withApi.map((r) => +(r.api!.hitRate * 100).toFixed(2)), withApi.map((r) => +(r.hitRate * 100).toFixed(2))],
    apiRate: apiRate === null ? null : +(apiRate * 100).toFixed(2),
    hitRate: [times, ...perAgent((r) => +(r.hitRate * 100).toFixed(2))],
    context: [times, ...perAgent((r) => r.api?.contextTokens ?? r.inputTokens)],
    split: [idx, all, created, read],
    sweep: input.ttlSweep
      ? [
          input.ttlSweep.points.map((p) => p.value),
          input.ttlSweep.points.map((p) => +(p.hitRate * 100).toFixed(2)),
          input.ttlSweep.points.map((p) => (p.apiWeightedHitRate === null ? null : +(p.apiWeightedHitRate * 100).toFixed(2))),
          input.ttlSweep.points.map(() => (apiRate === null ? null : +(apiRate * 100).toFixed(2))),
        ]
      : [[], [], [], []],
    workingSet: [reqs.map((r) => r.t), reqs.map((r) => r.workingSetBlocks ?? 0)],
    timeline: [tlX, ...tlSeries],
    timelineBars: timeline,
  };
}

/** Cost at list prices (priced from the API's usage): total, what caching saved, per model, unpriced models. */
function costRows(c: CostSummary): [string, string][] {
  const rows: [string, string][] = [
    [`cost at list prices (${c.prices.source}, ${c.prices.retrieved})`, c.total ? `${fmtUsd(c.total.total)} (uncached ${fmtUsd(c.total.uncached)}; caching saved ${fmtUsd(c.total.saved)})` : 'no priced model'],
  ];
  for (const m of c.perModel) rows.push([`  cost: ${m.model}`, `${fmtUsd(m.usd.total)} over ${m.requests} requests (caching saved ${fmtUsd(m.usd.saved)})`]);
  if (c.unpriced.length) rows.push(['unpriced models (not in the cost)', c.unpriced.map((u) => `${u.model} (${u.requests} requests)`).join(', ')]);
  return rows;
}

/** One self-contained HTML file: uPlot JS and CSS inlined, data embedded, no network access needed. */
export function buildReportHtml(input: ReportInput): string {
  const { js, css } = uplotAssets();
  const o = input.simulation.overall;
  const data = reportData(input);
  const summary: [string, string][] = [
    ['source', `${input.source.kind}: ${input.source.path}`],
    ['requests', String(input.source.requests)],
    ['agents', String(data.agents.length)],
    ['block size / unique blocks', `${input.source.blockSize} / ${input.source.uniqueBlocks}`],
    ['policy / scope / write at', `${input.simulation.policy} / ${input.simulation.scope} / ${input.simulation.writeAt}`],
    ['simulated hit rate (token-weighted)', pct(o.hitRate)],
    ['API hit rate (Σcache_read / Σcontext)', pct(o.apiHitRate)],
    ['simulated, on API context', pct(o.simHitRateOnApi)],
    ['accuracy |sim − API|', o.accuracyPp === null ? '–' : `${o.accuracyPp.toFixed(2)} pp`],
    ['tokens read / created / uncached (simulated)', `${o.readTokens} / ${o.creationTokens} / ${o.uncachedTokens}`],
    ['misses', Object.entries(o.missReasons).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none'],
  ];
  const a = input.analysis;
  if (a) {
    const ms = (x: number | null) => (x === null ? '–' : `${(x / 1000).toFixed(2)} s`);
    summary.push(
      ['conversations / agents / sub-agents', `${a.totals.conversations} / ${a.totals.agents} / ${a.totals.subagents}`],
      ['side requests / duplicates (resends) / errors', `${a.totals.sideRequests} / ${a.totals.duplicates} / ${a.totals.errors}`],
      ['API tokens: input / cache read / cache creation / output', `${a.tokens.input} / ${a.tokens.cacheRead} / ${a.tokens.cacheCreation} / ${a.tokens.output}`],
      ['API request hit rate (requests with cache reads)', pct(a.cache.requestHitRate)],
      ['TTFT p50 / API time p50 / think time p50', `${ms(a.timing.ttftMs.p50)} / ${ms(a.timing.apiTimeMs.p50)} / ${ms(a.timing.thinkTimeMs.p50)}`],
      ...costRows(a.cost),
    );
  }
  const charts: [string, string][] = [
    ['api-vs-sim', 'Hit rate per request: API-reported vs simulated (%, requests with API usage, in send order)'],
    ['hit-rate', 'Simulated hit rate per request, by agent (%)'],
    ['context', 'Context size per request, by agent (tokens; API-reported when known)'],
    ['cache-split', 'Cache read / creation / uncached per request (stacked, simulated tokens)'],
    ['ttl-sweep', 'TTL sweep: simulated hit rate vs TTL (s), with the API-reported rate for reference (y axis from 0)'],
    ['working-set', 'Working set over time (cached blocks / entries)'],
    ['timeline', 'Agent timeline (first request → last cache write)'],
  ];
  const ex = input.explorer;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(input.title)}</title>
<style>${css}
body{font:14px system-ui,sans-serif;margin:24px;color:#222}h1{font-size:20px}h2{font-size:15px;margin:24px 0 6px}
table.summary{border-collapse:collapse}table.summary td{border:1px solid #ddd;padding:4px 8px}.chart{min-height:300px}
footer{margin-top:24px;color:#777;font-size:12px}${EXPLORER_CSS}</style></head>
<body><h1>${esc(input.title)}</h1>
<table class="summary">${summary.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('')}</table>
${ex ? `<h2>Conversation explorer</h2><div id="explorer"></div>` : ''}
${charts.map(([id, t]) => `<h2>${esc(t)}</h2><div class="chart" id="${id}"></div>`).join('\n')}
<footer>Generated by trace report at ${esc(input.generatedAt)}. Hit rates and cache splits are simulated; API figures are as reported in the source.</footer>
<script>${js}</script>
<script>${EXPLORER_JS}</script>
<script>
const D = ${embed(data)};
const EX = ${embed(ex ?? null)};
if (EX) {
  const P = EX.details;
  const detailOf = (id) => { const d = P && P.byId[id]; return Promise.resolve(d ? { id, messages: d.m.map((i) => P.messages[i]), tools: d.t.map((i) => P.tools[i]), system: d.s.map((i) => P.system[i]), response: d.response, stopReason: d.stopReason, error: d.error } : null); };
  window.explorer = TraceExplorer(document.getElementById('explorer'), EX.model, detailOf);
}
const W = Math.min(1100, document.body.clientWidth - 20);
const palette = ['#1f77b4','#ff7f0e','#2ca02c','#d62728','#9467bd','#8c564b','#e377c2','#7f7f7f','#bcbd22','#17becf'];
const col = (i) => palette[i % palette.length];
const zeroY = { range: (u, min, max) => [0, max > 0 ? max * 1.05 : 1] };
function plot(id, opts, data) { new uPlot(Object.assign({ width: W, height: 280, axes: [{}, { size: 80 }] }, opts), data, document.getElementById(id)); }
// Agent ids are '<conversation>' for a main agent and '<conversation>/sub-N' for sub-agents: label by what differs.
const agentLabel = (a) => D.agentLabels[D.agents.indexOf(a)];
const agentSeries = (points) => D.agents.map((a, i) => ({ label: agentLabel(a), stroke: col(i), spanGaps: true, points: { show: points } }));
const pctY = { range: [0, 100] };
plot('api-vs-sim', { scales: { x: { time: false }, y: pctY }, series: [{ label: 'request' },
  { label: 'API-reported', stroke: '#1f77b4', width: 2, points: { show: true } },
  { label: 'simulated', stroke: '#ff7f0e', width: 2, dash: [6, 3], points: { show: true } }] }, D.apiVsSim);
plot('hit-rate', { scales: { x: { time: false }, y: pctY }, series: [{ label: 't (s)' }, ...agentSeries(true)] }, D.hitRate);
plot('context', { scales: { x: { time: false }, y: zeroY }, series: [{ label: 't (s)' }, ...agentSeries(true)] }, D.context);
plot('cache-split', { scales: { x: { time: false }, y: zeroY }, series: [{ label: 'request' },
  { label: 'uncached', stroke: '#d62728', fill: 'rgba(214,39,40,0.35)' },
  { label: 'creation', stroke: '#ff7f0e', fill: 'rgba(255,127,14,0.45)' },
  { label: 'read', stroke: '#2ca02c', fill: 'rgba(44,160,44,0.55)' }] }, D.split);
plot('ttl-sweep', { scales: { x: { time: false }, y: pctY }, series: [{ label: 'ttl (s)' }, { label: 'simulated hit rate %', stroke: '#ff7f0e', width: 2, points: { show: true, size: 8 } },
  { label: 'simulated, API-weighted %', stroke: '#2ca02c', width: 1, points: { show: true } },
  { label: 'API-reported %', stroke: '#1f77b4', width: 1, dash: [6, 3], points: { show: false } }] }, D.sweep);
plot('working-set', { scales: { x: { time: false }, y: zeroY }, series: [{ label: 't (s)' }, { label: 'working set', stroke: '#9467bd', fill: 'rgba(148,103,189,0.25)' }] }, D.workingSet);
plot('timeline', { scales: { x: { time: false }, y: { range: [0, D.agents.length + 1] } }, series: [{ label: 't (s)' },
  ...D.agents.map((a, i) => ({ label: agentLabel(a), stroke: col(i), width: 10, spanGaps: false, points: { show: true, size: 10 } }))] }, D.timeline);
</script></body></html>
`;
}

