import { openSource, type CorpusInfo } from '../store/sources/index.js';
import { getTokenizer } from '../analyze/tokenizers/index.js';
import { blockRequestsOf, type BlockSource } from '../analyze/blocks/from-source.js';
import type { HashAlgorithm } from '../analyze/blocks/chain-hash.js';
import { createPolicy, type PolicyOptions } from '../analyze/cache/index.js';
import { simulate, type CacheScope, type SimulationResult, type WriteAt } from '../analyze/cache/simulator.js';
import type { PipelineDeps } from './analysis.js';
import type { OpenedSource } from '../store/sources/source.js';
import { NO_PROGRESS } from '../shared/progress.js';

export interface BlockSourceLoadOptions {
  sourceKind?: string;
  /** Block size for content sources (block-level sources keep theirs). */
  blockSize?: number;
  hash: HashAlgorithm;
  tokenizer: string;
  /** Mixed into the chain-hash root (anonymised exports). */
  salt?: string;
}

export type LoadedBlockSource = BlockSource & { path: string; corpus: CorpusInfo | null; skipped: number };

/** Any source as block requests: block-level sources as recorded, content sources through the block model. */
export async function loadBlockSource(path: string, o: BlockSourceLoadOptions, deps: PipelineDeps): Promise<LoadedBlockSource> {
  const tokenizer = getTokenizer(o.tokenizer);
  const src = openSource(path, { logger: deps.logger, kind: o.sourceKind, progress: deps.progress });
  try {
    // Content sources are read twice (linking, then blocks; an async one — Postgres — a page at a time each
    // pass); progress counts records as they are read.
    const passes = src.level === 'content' ? 2 : 1;
    const total = src.estimatedCount === null ? null : src.estimatedCount * passes;
    const progress = deps.progress?.(total) ?? NO_PROGRESS;
    progress.start(total ?? 0, 'loading');
    const counted = <T>(it: Iterable<T>): Iterable<T> => ({
      *[Symbol.iterator]() {
        for (const x of it) {
          deps.signal?.throwIfAborted();
          yield x;
          progress.increment();
        }
      },
    });
    async function* countedAsync<T>(it: AsyncIterable<T>): AsyncGenerator<T> {
      for await (const x of it) {
        deps.signal?.throwIfAborted();
        yield x;
        progress.increment();
      }
    }
    const tracked: OpenedSource = {
      ...src,
      requests: () => counted(src.requests()),
      ...(src.requestsAsync ? { requestsAsync: () => countedAsync(src.requestsAsync!()) } : {}),
      ...(src.blocks ? { blocks: () => counted(src.blocks!()) } : {}),
    };
    try {
      const bs = await blockRequestsOf(tracked, { tokenizer, hash: o.hash, blockSize: o.blockSize, salt: o.salt ?? '' });
      return { ...bs, path, corpus: src.corpus ?? null, skipped: src.stats.skipped };
    } finally {
      progress.stop();
    }
  } finally {
    src.close();
  }
}

/** A validated simulation set-up (the CLI builds it from flags: src/cli/options.ts `simSetup`). */
export interface SimSetup {
  policy: string;
  options: PolicyOptions;
  scope: CacheScope;
  writeAt: WriteAt;
  prewarm: boolean;
}

/** `trackReuse`: per-request reuse distances (O(blocks) per request; only `simulate --requests` shows them). */
export function runSimulation(src: BlockSource, s: SimSetup, trackWorkingSet = false, deps?: Pick<PipelineDeps, 'progress'>, trackReuse = true): SimulationResult {
  const progress = deps?.progress?.(src.requests.length) ?? NO_PROGRESS;
  progress.start(src.requests.length, `simulating ${s.policy}`);
  try {
    const res = simulate(src.requests, {
      policy: createPolicy(s.policy, s.options),
      scope: s.scope,
      writeAt: s.writeAt,
      prewarm: s.prewarm,
      trackWorkingSet,
      trackReuse,
      onProgress: (done) => progress.update(done),
    });
    progress.update(src.requests.length);
    return res;
  } finally {
    progress.stop();
  }
}
