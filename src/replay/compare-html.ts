import { groupName, type CompareGroup, type CompareRow, type Comparison, type GroupMetric } from './compare.js';
import type { RunResult } from './results.js';

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function fmt(v: number | null, digits = 1): string {
  if (v === null || !Number.isFinite(v)) return '–';
  return v.toLocaleString('en-US', { maximumFractionDigits: digits });
}

interface Metric {
  key: keyof CompareRow;
  title: string;
  unit: string;
  better: 'lower' | 'higher';
  scale?: number;
}

const METRICS: Metric[] = [
  { key: 'ttft_p50_ms', title: 'TTFT p50', unit: 'ms', better: 'lower' },
  { key: 'ttft_p99_ms', title: 'TTFT p99', unit: 'ms', better: 'lower' },
  { key: 'e2e_p50_ms', title: 'E2E p50', unit: 'ms', better: 'lower' },
  { key: 'prefill_tok_s', title: 'Prefill', unit: 'tok/s', better: 'higher' },
  { key: 'decode_tok_s', title: 'Decode', unit: 'tok/s', better: 'higher' },
  { key: 'cache_hit_rate', title: 'Cache hit', unit: '%', better: 'higher', scale: 100 },
  { key: 'goodput_rps', title: 'Goodput', unit: 'req/s', better: 'higher' },
  { key: 'total_time_s', title: 'Total time', unit: 's', better: 'lower' },
  { key: 'job_completion_ms', title: 'Job completion', unit: 'ms', better: 'lower' },
];

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

function nameOf(r: CompareRow): string {
  return r.label ? `${r.model} (${r.label})` : r.model;
}

/** Horizontal bar chart of one metric as inline SVG (no scripts, no network). */
function barChart(m: Metric, rows: CompareRow[]): string {
  const vals = rows.map((r) => {
    const v = r[m.key];
    return typeof v === 'number' && Number.isFinite(v) ? v * (m.scale ?? 1) : null;
  });
  if (vals.every((v) => v === null)) return '';
  const max = Math.max(...vals.map((v) => v ?? 0), 1e-9);
  const barH = 22;
  const labelW = 260;
  const chartW = 420;
  const h = rows.length * (barH + 6) + 30;
  const bars = rows
    .map((r, i) => {
      const v = vals[i];
      const y = 24 + i * (barH + 6);
      const w = v === null ? 0 : Math.max(1, (v / max) * chartW);
      return (
        `<text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${esc(nameOf(r))}</text>` +
        `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[i % COLORS.length]}"><title>${esc(nameOf(r))}: ${fmt(v, 2)} ${m.unit}</title></rect>` +
        `<text x="${labelW + w + 6}" y="${y + 15}">${fmt(v, 1)} ${esc(m.unit)}</text>`
      );
    })
    .join('');
  return (
    `<figure><svg xmlns="http://www.w3.org/2000/svg" width="${labelW + chartW + 120}" height="${h}" font-family="sans-serif" font-size="12">` +
    `<text x="0" y="14" font-weight="bold">${esc(m.title)} (${esc(m.unit)}, ${m.better} is better)</text>${bars}</svg></figure>`
  );
}

const GROUP_TITLES: Record<GroupMetric, [string, string, number]> = {
  ttft_p50_ms: ['TTFT p50', 'ms', 1],
  ttft_p90_ms: ['TTFT p90', 'ms', 1],
  tpot_p50_ms: ['TPOT p50', 'ms', 1],
  e2e_p50_ms: ['E2E p50', 'ms', 1],
  prefill_tok_s: ['prefill', 'tok/s', 1],
  decode_tok_s: ['decode', 'tok/s', 1],
  output_tok_s: ['output', 'tok/s', 1],
  cache_hit_rate: ['server cache hit', '%', 100],
  job_completion_ms: ['job completion', 's', 0.001],
  goodput_rps: ['goodput', 'req/s', 1],
};

function groupsTable(c: Comparison): string {
  const keys = Object.keys(GROUP_TITLES) as GroupMetric[];
  const cell = (g: CompareGroup, k: GroupMetric) => {
    const m = g.metrics[k];
    const sc = GROUP_TITLES[k][2];
    return m === null ? '–' : `${fmt(m.median * sc, 1)} <small>[${fmt(m.min * sc, 1)}–${fmt(m.max * sc, 1)}]</small>`;
  };
  const head = ['#', 'model', 'users', 'valid runs', ...keys.map((k) => `${GROUP_TITLES[k][0]} (${GROUP_TITLES[k][1]})`)];
  const rows = c.groups.map((g) => `<tr><td>${g.rank ?? '–'}</td><td>${esc(groupName(g))}</td><td>${g.users}</td><td>${g.valid_runs}/${g.runs}</td>${keys.map((k) => `<td>${cell(g, k)}</td>`).join('')}</tr>`);
  const winners = c.winners.map(
    (w) =>
      `<li>${esc(GROUP_TITLES[w.metric][0])}${c.groups.some((g) => g.users > 1) ? ` (${w.users} users)` : ''}: <b>${esc(w.winner)}</b> by ${fmt(w.difference * GROUP_TITLES[w.metric][2], 2)} ${esc(GROUP_TITLES[w.metric][1])}` +
      `${w.difference_pct === null ? '' : ` (${fmt(w.difference_pct, 1)} %)`} over ${esc(w.runner_up)} — ${w.within_noise ? 'within noise' : w.spread_known ? 'beyond the repeats’ spread' : 'single run: spread unknown'}</li>`,
  );
  return `<h2>Models</h2><table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>` + (winners.length ? `<h2>Winner per metric</h2><ul>${winners.join('')}</ul>` : '');
}

interface Series {
  name: string;
  points: [number, number][];
}

/** A scatter (or line) chart of several series as inline SVG. */
function xyChart(title: string, xLabel: string, yLabel: string, series: Series[], line = false): string {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return '';
  const W = 640;
  const H = 300;
  const L = 60;
  const B = 40;
  const xMax = Math.max(...all.map((p) => p[0]), 1e-9);
  const yMax = Math.max(...all.map((p) => p[1]), 1e-9);
  const x = (v: number) => L + (v / xMax) * (W - L - 20);
  const y = (v: number) => H - B - (v / yMax) * (H - B - 30);
  const marks = series
    .map((s, i) => {
      const col = COLORS[i % COLORS.length];
      const pts = s.points.map((p) => `<circle cx="${x(p[0]).toFixed(1)}" cy="${y(p[1]).toFixed(1)}" r="3" fill="${col}"><title>${esc(s.name)}: ${fmt(p[0], 0)}, ${fmt(p[1], 1)}</title></circle>`).join('');
      const path = line && s.points.length > 1 ? `<polyline fill="none" stroke="${col}" points="${s.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ')}"/>` : '';
      return path + pts + `<text x="${W - 10}" y="${30 + i * 16}" text-anchor="end" fill="${col}">${esc(s.name)}</text>`;
    })
    .join('');
  return (
    `<figure><svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">` +
    `<text x="0" y="14" font-weight="bold">${esc(title)}</text>` +
    `<line x1="${L}" y1="${H - B}" x2="${W - 20}" y2="${H - B}" stroke="#888"/><line x1="${L}" y1="30" x2="${L}" y2="${H - B}" stroke="#888"/>` +
    `<text x="${(W + L) / 2}" y="${H - 8}" text-anchor="middle">${esc(xLabel)} (max ${fmt(xMax, 0)})</text>` +
    `<text x="12" y="${(H - B) / 2}" transform="rotate(-90 12 ${(H - B) / 2})" text-anchor="middle">${esc(yLabel)} (max ${fmt(yMax, 0)})</text>` +
    `${marks}</svg></figure>`
  );
}

/** TTFT of every ok request vs its context length (prompt tokens), one series per model. */
function ttftVsContext(results: readonly RunResult[]): string {
  const by = new Map<string, [number, number][]>();
  for (const r of results) {
    const name = groupName({ model: r.config.model, label: r.config.label ?? null });
    let pts = by.get(name);
    if (!pts) by.set(name, (pts = []));
    for (const q of r.requests) if (q.ok && q.ttft_ms !== null && q.prompt_tokens !== null) pts.push([q.prompt_tokens, q.ttft_ms]);
  }
  return xyChart('TTFT per turn vs context length', 'context (prompt tokens)', 'TTFT ms', [...by].map(([name, points]) => ({ name, points })));
}

function capacityCharts(c: Comparison): string {
  if (c.capacity.length === 0) return '';
  const series = (f: (l: Comparison['capacity'][number]['levels'][number]) => number | null) =>
    c.capacity.map((k) => ({ name: `${groupName(k)}${k.capacity_users === null ? '' : ` — capacity ${k.capacity_users}`}`, points: k.levels.filter((l) => f(l) !== null).map((l) => [l.users, f(l)!] as [number, number]) }));
  return '<h2>Capacity</h2>' + xyChart('TTFT p90 vs concurrent users', 'users', 'TTFT p90 ms', series((l) => l.ttft_p90_ms), true) + xyChart('output tokens/s vs concurrent users', 'users', 'tok/s', series((l) => l.output_tok_s), true);
}

/**
 * A self-contained HTML page: the model groups (median [min–max]) and winners, per-run table, failed runs, an
 * inline-SVG bar chart per metric, TTFT per turn vs context length, capacity curves and job completion times.
 */
export function renderCompareHtml(c: Comparison, title = 'trace compare', results: readonly RunResult[] = []): string {
  const head = ['#', 'model', 'status', 'ok', 'failed', 'TTFT p50 ms', 'TTFT p99 ms', 'prefill tok/s', 'decode tok/s', 'E2E p50 ms', 'total s', 'cache hit', 'goodput req/s'];
  const tr = (r: CompareRow) =>
    '<tr>' +
    [
      r.rank === null ? '–' : String(r.rank),
      esc(nameOf(r)),
      esc(r.status) + (r.client_bound ? ' ⚠ client-bound' : ''),
      String(r.requests_ok),
      String(r.requests_failed),
      fmt(r.ttft_p50_ms),
      fmt(r.ttft_p99_ms),
      fmt(r.prefill_tok_s),
      fmt(r.decode_tok_s),
      fmt(r.e2e_p50_ms),
      fmt(r.total_time_s, 2),
      r.cache_hit_rate === null ? '–' : (r.cache_hit_rate * 100).toFixed(1) + '%',
      fmt(r.goodput_rps, 3),
    ]
      .map((x) => `<td>${x}</td>`)
      .join('') +
    '</tr>';
  const charted = c.rows.filter((r) => r.status !== 'failed');
  const failed = c.failed.length
    ? `<h2>Failed runs</h2><ul>${c.failed.map((f) => `<li><b>${esc(f.model)}</b> — ${esc(f.file)}: ${esc(f.reason)}</li>`).join('')}</ul>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:nth-child(2),td:nth-child(3){text-align:left}tr.avg{font-style:italic;background:#f4f4f4}figure{margin:1em 0}</style>
</head><body>
<h1>${esc(title)}</h1>
<p>Ranked by ${c.ranked_by === 'goodput_rps' ? 'goodput (higher first)' : 'TTFT p50 (lower first)'}; measured by <code>trace replay</code>. Groups: median [min–max] over each model's valid repeats (percentiles are never averaged across runs).</p>
${groupsTable(c)}
<h2>Runs</h2>
<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>
${c.rows.map(tr).join('\n')}
</tbody></table>
${failed}
${c.skipped.length ? `<h2>Unreadable result files (${c.skipped.length})</h2><ul>${c.skipped.map((k) => `<li>${esc(k.path)}: ${esc(k.reason)}</li>`).join('')}</ul>` : ''}
${ttftVsContext(results)}
${capacityCharts(c)}
<h2>Charts (per run)</h2>
${METRICS.map((m) => barChart(m, charted)).join('\n')}
</body></html>
`;
}
