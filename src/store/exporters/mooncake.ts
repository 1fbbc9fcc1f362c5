import type { BlockRequest } from '../../shared/trace-record.js';
import type { MooncakeRow } from '../sources/mooncake.js';

/** Mooncake JSONL rows (all conversations merged in time order; timestamps in ms since the first request). */
export function toMooncakeRows(reqs: readonly BlockRequest[]): MooncakeRow[] {
  const rows = [...reqs].sort((a, b) => a.t - b.t);
  const t0 = rows[0]?.t ?? 0;
  return rows.map((r) => ({
    timestamp: Math.round((r.t - t0) * 1000),
    input_length: r.inputTokens,
    output_length: r.outputTokens,
    hash_ids: r.hashIds,
  }));
}

export function mooncakeJsonl(rows: readonly MooncakeRow[]): string {
  return rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '');
}
