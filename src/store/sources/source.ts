import type { Logger } from '../../shared/logger.js';
import type { ProgressFactory } from '../../shared/progress.js';
import type { BlockRequest, TraceRequest } from '../../shared/trace-record.js';

/**
 * One interface for every importer (registry in ./index.ts; one shared contract test suite in
 * test/store/sources-contract.test.ts that every importer passes).
 *
 * Content-level sources (requests.db, claude-code-proxy DB, anyclaude traces, Claude Code JSONL) yield
 * TraceRequests; block-level sources (kv-cache-tester JSON, Mooncake JSONL) yield BlockRequests only.
 * Records are streamed (iterables) so memory stays bounded on big sources.
 */
export interface SourceImporter {
  /** Registry key, used by `--source-kind`. */
  readonly kind: string;
  readonly description: string;
  readonly level: 'content' | 'block';
  /** Cheap sniff: path facts + up to the first 64 KiB of the file (null for directories). */
  detect(probe: SourceProbe): boolean;
  open(path: string, options: OpenSourceOptions): OpenedSource;
}

export interface SourceProbe {
  path: string;
  isDirectory: boolean;
  /** First bytes of the file (null for a directory). */
  head: Buffer | null;
  /** For directories: entry names (non-recursive). */
  entries: string[] | null;
}

export interface OpenSourceOptions {
  logger: Logger;
  /** Progress over the files of a corpus directory (a bar on a TTY; default none). */
  progress?: ProgressFactory;
  /** Database sources set `TraceRequest.bodyText` (the body as stored); off by default (readers that keep requests). */
  keepBodyText?: boolean;
}

/** One file of a corpus: its session and what was read from it (kv-cache-tester adds its own facts). */
export interface CorpusFileFacts {
  file: string;
  session_id: string;
  requests: number;
  [fact: string]: unknown;
}

/** What a corpus directory (or one kv-cache-tester file) held: stated in `--json` as `source.corpus`. */
export interface CorpusInfo {
  files: number;
  /** Files that could not be read or recognised, each with the reason (also warned about once). */
  skipped_files: { file: string; error: string }[];
  /** Block-level corpora: every file is its own hash-id namespace (two files never share a block). */
  hash_id_namespace: 'per-file' | null;
  /** Sources without content or hash ids: how the blocks were modelled (e.g. TraceLab: from prefix/append sizes). */
  block_model?: string;
  sessions: CorpusFileFacts[];
}

export interface SourceStats {
  /** Malformed rows / lines skipped (each also reported once as a one-line warning). */
  skipped: number;
  /** Records yielded so far. */
  yielded: number;
}

export interface OpenedSource {
  readonly kind: string;
  readonly path: string;
  readonly level: 'content' | 'block';
  /** Total number of records when cheap to know (for progress bars); null otherwise. */
  readonly estimatedCount: number | null;
  /** Content-level records in chronological order (level 'content'). May be iterated more than once. */
  requests(): Iterable<TraceRequest>;
  /**
   * Async sources (a Postgres store) yield here instead; `requests()` may then throw. Consumers that must take
   * every source go through `iterateRequests(src)` (./index.ts), which prefers this and wraps `requests()` otherwise.
   */
  requestsAsync?(): AsyncIterable<TraceRequest>;
  /** Block-level records (level 'block'); content sources leave this undefined and are blocked by the block model. */
  blocks?(): Iterable<BlockRequest>;
  /** For block-level sources: the block size hash ids were computed with. */
  readonly blockSize?: number;
  readonly stats: SourceStats;
  /** Corpus directories and kv-cache-tester files: per-file facts (absent for other sources). */
  readonly corpus?: CorpusInfo;
  close(): void;
}
