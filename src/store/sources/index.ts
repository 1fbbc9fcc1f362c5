import { closeSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { SourceError } from '../../shared/errors.js';
import type { OpenSourceOptions, OpenedSource, SourceImporter, SourceProbe } from './source.js';
import type { TraceRequest } from '../../shared/trace-record.js';
import { traceDbImporter } from './trace-db.js';
import { ccProxyDbImporter } from './cc-proxy-db.js';
import { anyclaudeImporter } from './anyclaude.js';
import { claudeJsonlImporter } from './claude-jsonl.js';
import { kvCacheTesterImporter } from './kv-cache-tester.js';
import { mooncakeImporter } from './mooncake.js';
import { postgresImporter } from './postgres-source.js';
import { isPostgresUrl } from '../target.js';
import { corpusImporter } from './corpus.js';
import { tracelabImporter } from './tracelab.js';
import { claudeTraceImporter } from './claude-trace.js';

export type { OpenedSource, SourceImporter, SourceProbe, OpenSourceOptions, SourceStats, CorpusInfo, CorpusFileFacts } from './source.js';

/**
 * Registry of importers. Detection order matters: more specific formats first.
 * Each importer file adds itself here (one line).
 */
export const SOURCE_IMPORTERS: SourceImporter[] = [kvCacheTesterImporter, tracelabImporter, mooncakeImporter, traceDbImporter, ccProxyDbImporter, anyclaudeImporter, claudeTraceImporter, claudeJsonlImporter, postgresImporter];
// Last: a directory none of the directory formats (claude-jsonl projects, anyclaude folders) claimed.
SOURCE_IMPORTERS.push(corpusImporter({ importers: () => SOURCE_IMPORTERS.filter((i) => i.kind !== 'corpus' && i.kind !== 'postgres'), probe: (p) => probe(p) }));

export function findImporter(kind: string): SourceImporter {
  const imp = SOURCE_IMPORTERS.find((i) => i.kind === kind);
  if (!imp) throw new SourceError(`unknown source kind "${kind}" (known: ${SOURCE_IMPORTERS.map((i) => i.kind).join(', ')})`);
  return imp;
}

export function probe(path: string): SourceProbe {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new SourceError(`source not found: ${path}`);
  }
  if (st.isDirectory()) return { path, isDirectory: true, head: null, entries: readdirSync(path) };
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(Math.min(65536, st.size));
    const n = readSync(fd, buf, 0, buf.length, 0);
    return { path, isDirectory: false, head: buf.subarray(0, n), entries: null };
  } finally {
    closeSync(fd);
  }
}

/** Opens a source, auto-detecting its format unless `kind` is given. Throws SourceError (exit 2). */
export function openSource(path: string, options: OpenSourceOptions & { kind?: string }): OpenedSource {
  if (options.kind) return findImporter(options.kind).open(path, options);
  // A server store is named by URL: nothing on disk to probe.
  if (isPostgresUrl(path)) return postgresImporter.open(path, options);
  const p = probe(path);
  const imp = SOURCE_IMPORTERS.find((i) => i.detect(p));
  if (!imp) {
    throw new SourceError(
      `cannot recognise ${path} as a trace source (tried: ${SOURCE_IMPORTERS.map((i) => i.kind).join(', ') || 'none registered'})`,
    );
  }
  return imp.open(path, options);
}

/** Every content record of a source, sync or async (one way for pipelines to read any source). */
export async function* iterateRequests(src: OpenedSource): AsyncIterable<TraceRequest> {
  if (src.requestsAsync) {
    yield* src.requestsAsync();
    return;
  }
  yield* src.requests();
}

