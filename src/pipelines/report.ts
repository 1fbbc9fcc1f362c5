import { buildReportHtml, type ReportInput } from '../report/html-report.js';
import {
  buildExplorerModel,
  explorerDetail,
  explorerModelFromSimulation,
  poolDetails,
  toolTokenCounter,
  type ExplorerDetail,
  type PooledDetails,
} from '../report/explorer/explorer-model.js';
import { getTokenizer } from '../analyze/tokenizers/index.js';
import { iterateRequests, openSource } from '../store/sources/index.js';
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

/** Every request's explorer detail (messages, tools with token counts, response), pooled for embedding. */
async function contentDetails(path: string, o: ReportPipelineOptions, deps: PipelineDeps): Promise<PooledDetails> {
  const counter = toolTokenCounter(getTokenizer(o.tokenizer));
  const src = openSource(path, { logger: deps.logger, kind: o.sourceKind });
  const details: ExplorerDetail[] = [];
  try {
    for await (const r of iterateRequests(src)) details.push(explorerDetail(r, counter));
  } finally {
    src.close();
  }
  return poolDetails(details);
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
  const sim = runSimulation(src, s, true, deps);
  const ttlSweep = sweep(src.requests, 'ttl', o.ttls(src.blockSize), { policy: s.policy, options: s.options, scope: s.scope, writeAt: s.writeAt });
  let analysis: AnalysisResult | null = null;
  let explorer: ReportInput['explorer'];
  if (src.level === 'content') {
    const loaded = await loadAnalysis(path, { sourceKind: o.sourceKind, tokenizer: null, storeIndex: false }, deps);
    analysis = summarize(loaded.facts, loaded.index, { prices: o.prices });
    const simById = new Map(sim.requests.map((r) => [r.id, r]));
    explorer = {
      model: buildExplorerModel({ facts: loaded.facts, index: loaded.index, sim: simById }),
      details: await contentDetails(path, o, deps),
    };
  } else {
    explorer = { model: explorerModelFromSimulation(sim.requests), details: null };
  }
  const html = buildReportHtml({
    analysis,
    explorer,
    title: `trace report: ${src.path}`,
    source: { path: src.path, kind: src.kind, blockSize: src.blockSize, requests: src.requests.length, uniqueBlocks: src.uniqueBlocks },
    simulation: sim,
    ttlSweep,
    generatedAt: new Date(deps.clock.now()).toISOString(),
  });
  return { html, src, sim, analysis };
}
