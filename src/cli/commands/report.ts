import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { buildReportHtml } from '../../report/html-report.js';
import { sweep } from '../../analyze/cache/sweep.js';
import { analyzeRequests } from '../../analyze/analyze-requests.js';
import { openSource } from '../../store/sources/index.js';
import { addSimOptions, loadBlockSource, parseSweep, runSimulation, simSetup, type SimCliOptions } from './simulate.js';
import { printJson } from '../output.js';

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
      const src = await loadBlockSource(ctx, path, o);
      const s = simSetup(o, src.blockSize);
      const sim = runSimulation(src, s, true);
      const { values } = parseSweep(`ttl=${o.ttls}`, src.blockSize);
      const ttlSweep = sweep(src.requests, 'ttl', values, { policy: s.policy, options: s.options, scope: s.scope, writeAt: s.writeAt });
      let analysis = null;
      if (src.level === 'content') {
        const opened = openSource(src.path, { logger: ctx.logger, kind: o.sourceKind });
        try {
          analysis = analyzeRequests(opened.requests());
        } finally {
          opened.close();
        }
      }
      const html = buildReportHtml({
        analysis,
        title: `trace report: ${src.path}`,
        source: { path: src.path, kind: src.kind, blockSize: src.blockSize, requests: src.requests.length, uniqueBlocks: src.uniqueBlocks },
        simulation: sim,
        ttlSweep,
        generatedAt: new Date(ctx.clock.now()).toISOString(),
      });
      const out = resolve(ctx.cwd, o.out);
      writeFileSync(out, html);
      const agents = new Set(sim.requests.map((r) => r.agentId)).size;
      if (o.json) return printJson(ctx, { out, bytes: Buffer.byteLength(html), requests: sim.requests.length, agents });
      ctx.stdout(`wrote ${out} (${(Buffer.byteLength(html) / 1024).toFixed(0)} KiB, ${sim.requests.length} requests, ${agents} agents)\n`);
    });
};
