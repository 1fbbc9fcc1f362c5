import { iterateRequests, openSource, probe } from '../store/sources/index.js';
import { tracelabImporter, type RoundBlockRequest } from '../store/sources/tracelab.js';
import { summarizeRounds, type RoundsSummary } from '../analyze/rounds-summary.js';
import { storeConversationIndex } from '../store/conversation-index-repo.js';
import { isPostgresUrl } from '../store/target.js';
import { getTokenizer, TOKENIZERS } from '../analyze/tokenizers/index.js';
import { FactsCollector } from '../analyze/analyze-requests.js';
import { buildConversationIndex, type ConversationIndex } from '../analyze/conversation-index.js';
import { applyJsonlLinks, buildMessageIndex } from '../analyze/message-index.js';
import type { RequestFacts } from '../analyze/request-facts.js';
import type { TokenCounter } from '../analyze/token-counter.js';
import type { TraceRequest } from '../shared/trace-record.js';
import { InputError, UsageError, errorMessage } from '../shared/errors.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { NO_PROGRESS, type ProgressFactory } from '../shared/progress.js';

/** What every pipeline gets from its caller (the CLI builds these from its context). */
export interface PipelineDeps {
  logger: Logger;
  clock: Clock;
  /** A progress bar for the amount of work once known (default: none). */
  progress?: ProgressFactory;
  /** Aborts long work between records (Ctrl-C). */
  signal?: AbortSignal;
}

/** Records between two yields to the event loop (so a Ctrl-C, a macrotask, can abort a long synchronous loop). */
const YIELD_EVERY = 16;

/**
 * Passes records through, checking the signal before each and yielding to the event loop every YIELD_EVERY
 * records: a sync source behind `for await` only ever runs microtasks, so without the yield the SIGINT handler
 * (and with it the abort) could not run until the whole source was read.
 */
export async function* interruptible<T>(records: AsyncIterable<T>, signal: AbortSignal | undefined): AsyncGenerator<T> {
  let n = 0;
  for await (const r of records) {
    if (++n % YIELD_EVERY === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    signal?.throwIfAborted();
    yield r;
  }
}

export const ANALYZE_DEFAULT_TOKENIZER = 'claude';

export interface LoadAnalysisOptions {
  sourceKind?: string;
  jsonlDir?: string;
  /** Tokenizer name, or null for no token breakdown. */
  tokenizer: string | null;
  /** Store the conversation index into a trace-db source (default true). */
  storeIndex: boolean;
}

export interface LoadedAnalysis {
  source: string;
  kind: string;
  stats: { skipped: number; yielded: number };
  facts: RequestFacts[];
  index: ConversationIndex;
  counter: TokenCounter | null;
  jsonl: { path: string; calls: number; matched: number; unmatched: number } | null;
  indexStored: boolean;
}

/**
 * Loads a content source (any importer, sync or async), reduces it to facts, links it (structurally, or by a
 * Claude Code JSONL directory) and, for our own DB, stores the conversation index. `path` is absolute.
 */
export async function loadAnalysis(path: string, opts: LoadAnalysisOptions, deps: PipelineDeps): Promise<LoadedAnalysis> {
  if (opts.tokenizer !== null && !TOKENIZERS[opts.tokenizer]) {
    throw new UsageError(`unknown tokenizer "${opts.tokenizer}" (known: ${Object.keys(TOKENIZERS).join(', ')})`);
  }
  const src = openSource(path, { logger: deps.logger, kind: opts.sourceKind });
  if (src.level !== 'content') {
    src.close();
    throw new UsageError(`${path} is a block-level source (${src.kind}); list/show/analyze need request content`);
  }
  let facts: RequestFacts[];
  let counter: TokenCounter | null;
  try {
    const progress = deps.progress?.(src.estimatedCount) ?? NO_PROGRESS;
    progress.start(src.estimatedCount ?? 0, 'analysing');
    const collector = new FactsCollector({ tokenizer: opts.tokenizer ? getTokenizer(opts.tokenizer) : null, onProgress: (n) => progress.update(n) });
    for await (const r of interruptible(iterateRequests(src), deps.signal)) collector.add(r);
    progress.stop();
    ({ facts, counter } = collector.result());
  } finally {
    src.close();
  }
  let jsonl: LoadedAnalysis['jsonl'] = null;
  if (opts.jsonlDir) ({ facts, jsonl } = await linkByJsonl(facts, opts.jsonlDir, deps));
  const index = buildConversationIndex(facts);
  const indexStored = opts.storeIndex && src.kind === 'trace-db' && storeIndex(path, index, jsonl ? 'jsonl' : 'structural', deps);
  return { source: path, kind: src.kind, stats: { ...src.stats }, facts, index, counter, jsonl, indexStored };
}

async function linkByJsonl(facts: RequestFacts[], jpath: string, deps: PipelineDeps): Promise<{ facts: RequestFacts[]; jsonl: NonNullable<LoadedAnalysis['jsonl']> }> {
  const js = openSource(jpath, { logger: deps.logger, kind: 'claude-jsonl' });
  try {
    const calls: TraceRequest[] = [];
    for await (const r of iterateRequests(js)) calls.push(r);
    const mi = buildMessageIndex(facts, calls);
    return { facts: applyJsonlLinks(facts, mi), jsonl: { path: jpath, calls: calls.length, matched: mi.jsonl.size, unmatched: mi.unmatchedJsonl } };
  } finally {
    js.close();
  }
}

/** Writes the index into our own DB; a failure is a warning (the analysis itself stands). */
function storeIndex(path: string, index: ConversationIndex, linking: 'jsonl' | 'structural', deps: PipelineDeps): boolean {
  try {
    // Opens the DB read-write (migrating it) only when the stored index differs.
    storeConversationIndex(path, index.requests, { builtAt: new Date(deps.clock.now()).toISOString(), requestCount: index.requests.length, linking });
    return true;
  } catch (e) {
    deps.logger.warn(`could not store the conversation index in ${path}: ${errorMessage(e)}`);
    return false;
  }
}

/**
 * Finds one request by id, response message id, or a unique prefix of either. Throws UsageError when a prefix is
 * ambiguous and InputError when nothing matches.
 */
export async function findRequest(path: string, wanted: string, o: { sourceKind?: string }, deps: PipelineDeps): Promise<TraceRequest> {
  const src = openSource(path, { logger: deps.logger, kind: o.sourceKind });
  let found: TraceRequest | undefined;
  const prefixMatches: string[] = [];
  try {
    for await (const r of interruptible(iterateRequests(src), deps.signal)) {
      if (r.id === wanted || r.messageId === wanted) return r;
      if (r.id.startsWith(wanted) || (r.messageId ?? '').startsWith(wanted)) {
        prefixMatches.push(r.id);
        if (prefixMatches.length === 1) found = r;
      }
    }
  } finally {
    src.close();
  }
  if (prefixMatches.length > 1) throw new UsageError(`"${wanted}" is ambiguous: ${prefixMatches.slice(0, 5).join(', ')}…`);
  if (!found) throw new InputError(`no request "${wanted}" in ${path}`);
  return found;
}

/**
 * Round traces (TraceLab: no content, no hash ids) get their own summary in `trace analyze`; null when `path` is
 * another kind of source.
 */
export function loadRounds(path: string, o: { sourceKind?: string }, deps: PipelineDeps): { source: string; kind: string; skipped: number; summary: RoundsSummary } | null {
  if ((o.sourceKind && o.sourceKind !== 'tracelab') || isPostgresUrl(path)) return null;
  const p = probe(path);
  if (!o.sourceKind && !tracelabImporter.detect(p)) return null;
  const src = tracelabImporter.open(path, { logger: deps.logger });
  try {
    return { source: path, kind: src.kind, skipped: src.stats.skipped, summary: summarizeRounds([...src.blocks!()] as RoundBlockRequest[]) };
  } finally {
    src.close();
  }
}
