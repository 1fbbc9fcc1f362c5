import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { InputError, UsageError } from '../../shared/errors.js';
import { ExitCode } from '../main.js';
import { addSimOptions, loadBlockSource, runSimulation, simSetup, type SimCliOptions } from './simulate.js';
import { printJson, table, fmtPct } from '../output.js';

/** What a baseline stores (schema version 1). */
export interface CiBaseline {
  version: 1;
  created_at: string;
  settings: { policy: string; scope: string; block_size: number; tokenizer: string; hash: string };
  metrics: CiMetrics;
}

export interface CiMetrics {
  requests: number;
  /** Σcache_read / Σcontext as the API reported (null when the source has no usage). */
  api_hit_rate: number | null;
  /** Simulated token-weighted hit rate. */
  sim_hit_rate: number;
  /** Mean prompt tokens per request (API context when reported, else our tokenizer's count). */
  tokens_per_turn: number;
}

export interface CiCheck {
  metric: keyof CiMetrics;
  baseline: number | null;
  current: number | null;
  /** Change in the metric's unit: pp for hit rates, % for tokens_per_turn. */
  delta: number | null;
  limit: number;
  regressed: boolean;
}

export function parseBaseline(text: string, path: string): CiBaseline {
  let d: unknown;
  try {
    d = JSON.parse(text);
  } catch (e) {
    throw new InputError(`baseline ${path} is not valid JSON (${(e as Error).message})`);
  }
  const b = d as Partial<CiBaseline>;
  const m = b?.metrics as Partial<CiMetrics> | undefined;
  if (!b || b.version !== 1 || !m || typeof m.sim_hit_rate !== 'number' || typeof m.tokens_per_turn !== 'number' || !('api_hit_rate' in m)) {
    throw new InputError(`baseline ${path} is not a trace ci baseline (version 1 with metrics.sim_hit_rate, api_hit_rate, tokens_per_turn)`);
  }
  return b as CiBaseline;
}

/** Hit rates regress when they drop by more than `tolPp` points; tokens per turn when it grows by more than `tolPct` %. */
export function compareToBaseline(base: CiMetrics, cur: CiMetrics, tolPp: number, tolPct: number): CiCheck[] {
  const rate = (metric: 'api_hit_rate' | 'sim_hit_rate'): CiCheck => {
    const b = base[metric];
    const c = cur[metric];
    const delta = b === null || c === null ? null : (c - b) * 100;
    return { metric, baseline: b, current: c, delta, limit: tolPp, regressed: delta !== null && delta < -tolPp };
  };
  const tb = base.tokens_per_turn;
  const tc = cur.tokens_per_turn;
  const tDelta = tb > 0 ? ((tc - tb) / tb) * 100 : null;
  return [
    rate('api_hit_rate'),
    rate('sim_hit_rate'),
    { metric: 'tokens_per_turn', baseline: tb, current: tc, delta: tDelta, limit: tolPct, regressed: tDelta !== null && tDelta > tolPct },
  ];
}

interface CiOptions extends SimCliOptions {
  baseline: string;
  tolerancePp: string;
  tolerancePct: string;
  writeBaseline?: boolean;
  json?: boolean;
}

/**
 * `trace ci <source> --baseline baseline.json`: exit 0 when API / simulated hit rate and tokens per turn are within
 * tolerance of the baseline, 1 on regression (table of what regressed), 2 on bad input. --write-baseline records
 * the current metrics instead. --json: { status, baseline, checks[{metric,baseline,current,delta,limit,regressed}], metrics }.
 */
export const registerCi: RegisterCommand = (program: Command, ctx: CliContext) => {
  addSimOptions(
    program
      .command('ci')
      .description('CI gate: compare cache hit rates and tokens per turn against a baseline (exit 1 on regression)')
      .argument('<source>', 'trace source'),
  )
    .requiredOption('--baseline <file>', 'baseline JSON (written by --write-baseline)')
    .option('--tolerance-pp <pp>', 'allowed hit-rate drop in percentage points', '1')
    .option('--tolerance-pct <pct>', 'allowed growth of tokens per turn in %', '10')
    .option('--write-baseline', 'write the current metrics to --baseline and exit 0')
    .option('--json', 'print JSON')
    .action(async (path: string, o: CiOptions) => {
      const tolPp = Number(o.tolerancePp);
      const tolPct = Number(o.tolerancePct);
      if (!Number.isFinite(tolPp) || tolPp < 0) throw new UsageError('--tolerance-pp must be a number ≥ 0');
      if (!Number.isFinite(tolPct) || tolPct < 0) throw new UsageError('--tolerance-pct must be a number ≥ 0');
      const basePath = resolve(ctx.cwd, o.baseline);
      // Read the baseline before the (slower) source so a bad baseline fails fast.
      let base: CiBaseline | null = null;
      if (!o.writeBaseline) {
        if (!existsSync(basePath)) throw new InputError(`baseline not found: ${basePath} (create it with --write-baseline)`);
        base = parseBaseline(readFileSync(basePath, 'utf8'), basePath);
      }
      const src = await loadBlockSource(ctx, path, o);
      const s = simSetup(o, src.blockSize);
      const res = runSimulation(src, s);
      const apiCtx = res.requests.filter((r) => r.api).length;
      const metrics: CiMetrics = {
        requests: res.overall.requests,
        api_hit_rate: res.overall.apiHitRate,
        sim_hit_rate: res.overall.hitRate,
        tokens_per_turn:
          apiCtx > 0 ? res.overall.apiContextTokens / apiCtx : res.overall.requests > 0 ? res.overall.inputTokens / res.overall.requests : 0,
      };
      const settings = { policy: s.policy, scope: s.scope, block_size: src.blockSize, tokenizer: o.tokenizer, hash: o.hash };
      if (o.writeBaseline) {
        const b: CiBaseline = { version: 1, created_at: new Date(ctx.clock.now()).toISOString(), settings, metrics };
        writeFileSync(basePath, JSON.stringify(b, null, 2) + '\n');
        if (o.json) return printJson(ctx, { status: 'baseline-written', baseline: basePath, metrics });
        ctx.stdout(`wrote baseline ${basePath}\n`);
        return;
      }
      const b = base!;
      for (const k of Object.keys(settings) as (keyof typeof settings)[]) {
        if (b.settings && b.settings[k] !== settings[k]) ctx.logger.warn(`baseline ${k} was ${String(b.settings[k])}, now ${String(settings[k])}: numbers may not be comparable`);
      }
      const checks = compareToBaseline(b.metrics, metrics, tolPp, tolPct);
      const regressed = checks.filter((c) => c.regressed);
      if (regressed.length) ExitCode.value = 1;
      if (o.json) return printJson(ctx, { status: regressed.length ? 'regression' : 'ok', baseline: basePath, checks, metrics });
      const fmt = (c: CiCheck, v: number | null) => (c.metric === 'tokens_per_turn' ? (v === null ? '-' : v.toFixed(0)) : fmtPct(v, 2));
      const rows = (regressed.length ? regressed : checks).map((c) => [
        c.metric,
        fmt(c, c.baseline),
        fmt(c, c.current),
        c.delta === null ? '-' : `${c.delta >= 0 ? '+' : ''}${c.delta.toFixed(2)} ${c.metric === 'tokens_per_turn' ? '%' : 'pp'}`,
        `${c.metric === 'tokens_per_turn' ? '+' : '-'}${c.limit} ${c.metric === 'tokens_per_turn' ? '%' : 'pp'}`,
        c.regressed ? 'REGRESSED' : 'ok',
      ]);
      ctx.stdout(table(['metric', 'baseline', 'current', 'change', 'limit', 'status'], rows, { title: regressed.length ? 'trace ci: regression' : 'trace ci: ok' }));
    });
};
