import { buildReportHtml } from '../report/html-report.js';
import { sweep } from '../analyze/cache/sweep.js';
import { summarize, type AnalysisResult } from '../analyze/analyze-requests.js';
import type { SimulationResult } from '../analyze/cache/simulator.js';
import { loadBlockSource, runSimulation, type BlockSourceLoadOptions, type LoadedBlockSource, type SimSetup } from './block-source.js';
import { loadAnalysis, type PipelineDeps } from './analysis.js';
import type { PriceTable } from '../analyze/prices.js';

export interface ReportPipelineOptions extends BlockSourceLoadOptions {
  /** Simulation set-up once the block size is known. */
  setup: (blockSize: number) => SimSetup;
  /** TTL sweep values (seconds) once the block size is known. */
  ttls: (blockSize: number) => number[];
  /** Prices for the cost rows (default: the built-in dated table). */
  prices?: PriceTable;
}

export interface BuiltReport {
  html: string;
  src: LoadedBlockSource;
  sim: SimulationResult;
  analysis: AnalysisResult | null;
}

/** Loads a source, simulates it, sweeps TTLs, analyses content sources, and renders the self-contained HTML report. */
export async function buildReport(path: string, o: ReportPipelineOptions, deps: PipelineDeps): Promise<BuiltReport> {
  const src = await loadBlockSource(path, o, deps);
  const s = o.setup(src.blockSize);
  const sim = runSimulation(src, s, true);
  const ttlSweep = sweep(src.requests, 'ttl', o.ttls(src.blockSize), { policy: s.policy, options: s.options, scope: s.scope, writeAt: s.writeAt });
  let analysis: AnalysisResult | null = null;
  if (src.level === 'content') {
    const loaded = await loadAnalysis(path, { sourceKind: o.sourceKind, tokenizer: null, storeIndex: false }, deps);
    analysis = summarize(loaded.facts, loaded.index, { prices: o.prices });
  }
  const html = buildReportHtml({
    analysis,
    title: `trace report: ${src.path}`,
    source: { path: src.path, kind: src.kind, blockSize: src.blockSize, requests: src.requests.length, uniqueBlocks: src.uniqueBlocks },
    simulation: sim,
    ttlSweep,
    generatedAt: new Date(deps.clock.now()).toISOString(),
  });
  return { html, src, sim, analysis };
}
