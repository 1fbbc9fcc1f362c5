import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { buildReport } from '../../pipelines/report.js';
import { addSimOptions, blockSourceOptions, parseSweep, simSetup, type SimCliOptions } from '../options.js';
import { pipelineDeps } from '../context.js';
import { printJson } from '../output.js';
import { loadPriceTable } from '../../pipelines/prices.js';
import { resolveSourcePath } from '../../store/target.js';

interface ReportOptions extends SimCliOptions {
  out: string;
  ttls: string;
  json?: boolean;
}

/**
 * `trace report <source> --out report.html`: one self-contained HTML file (uPlot inlined) with hit rate and context
 * size over time per agent, the cache split per request, a TTL sweep, working set over time, an agent timeline and
 * the summary numbers. --json prints { out, bytes, requests, agents }.
 */
export const registerReport: RegisterCommand = (program: Command, ctx: CliContext) => {
  addSimOptions(
    program
      .command('report')
      .description('Write a self-contained HTML report (charts inlined, no network) of a source’s cache behaviour')
      .argument('<source>', 'trace source'),
  )
    .option('--out <file>', 'HTML file to write', 'report.html')
    .option('--ttls <list>', 'TTL sweep values', '30,60,120,300,600,1800,3600')
    .option('--json', 'print a JSON summary')
    .action(async (path: string, o: ReportOptions) => {
      const { html, sim } = await buildReport(
        resolveSourcePath(path, ctx.cwd),
        { ...blockSourceOptions(o), setup: (bs) => simSetup(o, bs), ttls: (bs) => parseSweep(`ttl=${o.ttls}`, bs).values, prices: loadPriceTable(o.prices && resolve(ctx.cwd, o.prices)) },
        pipelineDeps(ctx),
      );
      const out = resolve(ctx.cwd, o.out);
      writeFileSync(out, html);
      const agents = new Set(sim.requests.map((r) => r.agentId)).size;
      if (o.json) return printJson(ctx, { out, bytes: Buffer.byteLength(html), requests: sim.requests.length, agents });
      ctx.stdout(`wrote ${out} (${(Buffer.byteLength(html) / 1024).toFixed(0)} KiB, ${sim.requests.length} requests, ${agents} agents)\n`);
    });
};
