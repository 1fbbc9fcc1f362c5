import { median } from './metrics.js';
import type { RunResult } from './results.js';

/**
 * Capacity (`--users 1,2,4,8`): per concurrency level, TTFT/TPOT p50/p90, output tokens/s and the server's cache
 * hit rate (each the median over that level's repeats of the per-run value — percentiles of different runs are
 * never averaged), whether the SLOs hold at p90, and the capacity figure: the largest level such that every level
 * up to it holds (AA-AgentPerf's "concurrent agents a server sustains under an SLO").
 */

export interface CapacityLevel {
  users: number;
  runs: number;
  ttft_p50_ms: number | null;
  ttft_p90_ms: number | null;
  tpot_p50_ms: number | null;
  tpot_p90_ms: number | null;
  output_tok_s: number | null;
  server_hit_rate: number | null;
  /** Every run of the level valid and the SLOs met at p90; null without SLOs. */
  holds: boolean | null;
}

export interface CapacityReport {
  model: string;
  label: string | null;
  slo_ttft_s: number | null;
  slo_tpot_s: number | null;
  levels: CapacityLevel[];
  /** Largest level L with every level ≤ L holding; null without SLOs or when level 1 fails already. */
  capacity_users: number | null;
  note: string;
}

const med = (xs: (number | null)[]): number | null => median(xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)));

export function levelOf(users: number, runs: readonly RunResult[], slo: { ttftS: number | null; tpotS: number | null }): CapacityLevel {
  const s = runs.map((r) => r.summary);
  const level: CapacityLevel = {
    users,
    runs: runs.length,
    ttft_p50_ms: med(s.map((x) => x.ttft_ms.p50)),
    ttft_p90_ms: med(s.map((x) => x.ttft_ms.p90)),
    tpot_p50_ms: med(s.map((x) => x.tpot_ms.p50)),
    tpot_p90_ms: med(s.map((x) => x.tpot_ms.p90)),
    output_tok_s: med(s.map((x) => x.output_tok_s)),
    server_hit_rate: med(s.map((x) => x.cache.server_hit_rate)),
    holds: null,
  };
  if (slo.ttftS !== null || slo.tpotS !== null) {
    const valid = runs.every((r) => r.status === 'complete' && (r.validity?.valid ?? true));
    const ttftOk = slo.ttftS === null || (level.ttft_p90_ms !== null && level.ttft_p90_ms <= slo.ttftS * 1000);
    const tpotOk = slo.tpotS === null || level.tpot_p90_ms === null || level.tpot_p90_ms <= slo.tpotS * 1000;
    level.holds = valid && ttftOk && tpotOk;
  }
  return level;
}

/** Capacity curves of every (model, label) with runs at more than one `users` level, or with SLOs. */
export function capacityOf(results: readonly RunResult[]): CapacityReport[] {
  const groups = new Map<string, RunResult[]>();
  for (const r of results) {
    const k = `${r.config.model}\u0000${r.config.label ?? ''}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(r);
  }
  const out: CapacityReport[] = [];
  for (const runs of groups.values()) {
    const byUsers = new Map<number, RunResult[]>();
    for (const r of runs) {
      const u = r.config.users ?? 1;
      let l = byUsers.get(u);
      if (!l) byUsers.set(u, (l = []));
      l.push(r);
    }
    if (byUsers.size < 2 && ![...byUsers.keys()].some((u) => u > 1)) continue;
    const first = runs[0]!.config;
    const slo = { ttftS: first.slo_ttft_s, tpotS: first.slo_tpot_s };
    const levels = [...byUsers.entries()].sort((a, b) => a[0] - b[0]).map(([u, rs]) => levelOf(u, rs, slo));
    let capacity: number | null = null;
    if (slo.ttftS !== null || slo.tpotS !== null) {
      for (const l of levels) {
        if (!l.holds) break;
        capacity = l.users;
      }
    }
    out.push({
      model: first.model,
      label: first.label ?? null,
      slo_ttft_s: slo.ttftS,
      slo_tpot_s: slo.tpotS,
      levels,
      capacity_users: capacity,
      note:
        slo.ttftS === null && slo.tpotS === null
          ? 'no SLO given (--slo-ttft / --slo-tpot): curve only, no capacity figure'
          : capacity === null
            ? 'the SLOs fail already at the lowest level'
            : `SLOs hold at p90 up to ${capacity} concurrent users`,
    });
  }
  return out;
}
