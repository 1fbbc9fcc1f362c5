import type { CompareRow, Comparison } from './compare.js';

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

/** A self-contained HTML page: ranked table, averages, failed runs, one inline-SVG bar chart per metric. */
export function renderCompareHtml(c: Comparison, title = 'trace compare'): string {
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
  const a = c.averages;
  const avgRow =
    '<tr class="avg"><td></td><td>average</td><td></td><td></td><td></td>' +
    [a.ttft_p50_ms, a.ttft_p99_ms, a.prefill_tok_s, a.decode_tok_s, a.e2e_p50_ms, a.total_time_s]
      .map((v) => `<td>${fmt(v ?? null)}</td>`)
      .join('') +
    `<td>${a.cache_hit_rate == null ? '–' : (a.cache_hit_rate * 100).toFixed(1) + '%'}</td><td>${fmt(a.goodput_rps ?? null, 3)}</td></tr>`;
  const charted = c.rows.filter((r) => r.status !== 'failed');
  const failed = c.failed.length
    ? `<h2>Failed runs</h2><ul>${c.failed.map((f) => `<li><b>${esc(f.model)}</b> — ${esc(f.file)}: ${esc(f.reason)}</li>`).join('')}</ul>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:nth-child(2),td:nth-child(3){text-align:left}tr.avg{font-style:italic;background:#f4f4f4}figure{margin:1em 0}</style>
</head><body>
<h1>${esc(title)}</h1>
<p>Ranked by ${c.ranked_by === 'goodput_rps' ? 'goodput (higher first)' : 'TTFT p50 (lower first)'}; measured by <code>trace replay</code>. Averages over successful runs.</p>
<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>
${c.rows.map(tr).join('\n')}
${avgRow}
</tbody></table>
${failed}
<h2>Charts</h2>
${METRICS.map((m) => barChart(m, charted)).join('\n')}
</body></html>
`;
}
