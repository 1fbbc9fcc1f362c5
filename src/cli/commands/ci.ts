import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { InputError, RegressionError } from '../../shared/errors.js';
import { loadBlockSource, runSimulation } from '../../pipelines/block-source.js';
import { ciMetrics, compareToBaseline, parseBaseline, type CiBaseline, type CiCheck } from '../../pipelines/ci-gate.js';
import { addSimOptions, blockSourceOptions, parseNumber, simSetup, type SimCliOptions } from '../options.js';
import { pipelineDeps } from '../context.js';
import { printJson, table, fmtPct } from '../output.js';
import { resolveSourcePath } from '../../store/target.js';

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
      const tolPp = parseNumber(o.tolerancePp, '--tolerance-pp', { min: 0 });
      const tolPct = parseNumber(o.tolerancePct, '--tolerance-pct', { min: 0 });
      const basePath = resolve(ctx.cwd, o.baseline);
      // Read the baseline before the (slower) source so a bad baseline fails fast.
      let base: CiBaseline | null = null;
      if (!o.writeBaseline) {
        if (!existsSync(basePath)) throw new InputError(`baseline not found: ${basePath} (create it with --write-baseline)`);
        base = parseBaseline(readFileSync(basePath, 'utf8'), basePath);
      }
      const src = await loadBlockSource(resolveSourcePath(path, ctx.cwd), blockSourceOptions(o), pipelineDeps(ctx));
      const s = simSetup(o, src.blockSize);
      const metrics = ciMetrics(runSimulation(src, s, false, pipelineDeps(ctx), false));
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
      const failure = regressed.length ? new RegressionError(`${regressed.map((c) => c.metric).join(', ')} regressed beyond tolerance`) : null;
      if (o.json) {
        printJson(ctx, { status: regressed.length ? 'regression' : 'ok', baseline: basePath, checks, metrics });
        if (failure) throw failure;
        return;
      }
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
      if (failure) throw failure;
    });
};
