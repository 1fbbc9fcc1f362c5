import { iterateRequests, openSource } from '../store/sources/index.js';
import { CcProxyDbWriter } from '../store/exporters/cc-proxy.js';
import type { RequestRowInput } from '../store/requests-repo.js';
import { UsageError } from '../shared/errors.js';
import { NO_PROGRESS } from '../shared/progress.js';
import type { PipelineDeps } from './analysis.js';
import { traceRequestToRow } from './import.js';

/** Content-level export formats (whole requests, not block hashes): name → description. */
export const CONTENT_EXPORT_FORMATS: Record<string, string> = {
  'claude-code-proxy': "claude-code-proxy's SQLite requests table with raw bodies (from any content source, a compact store included)",
};

export interface ContentExportResult {
  format: string;
  out: string;
  source_kind: string;
  requests: number;
  skipped: number;
}

const BATCH = 500;

/**
 * `trace export <source> --format claude-code-proxy --out FILE.db`: every request of a content source (our store —
 * compact bodies reassembled —, a claude-code-proxy DB, JSONL, …) as a row of a fresh claude-code-proxy database.
 * Row ids are the source's record ids; the body is the request exactly as stored where the source holds it (our
 * SQLite or Postgres store, compact bodies reassembled; a claude-code-proxy DB) and the parsed request re-serialised
 * as compact JSON otherwise (JSONL, anyclaude, claude-trace); the response a claude-code-proxy response log
 * (status, assembled message), which that tool and `trace` read back.
 */
export async function exportContent(path: string, format: string, out: string, o: { sourceKind?: string }, deps: PipelineDeps): Promise<ContentExportResult> {
  if (!CONTENT_EXPORT_FORMATS[format]) throw new UsageError(`unknown content export format "${format}"`);
  const src = openSource(path, { logger: deps.logger, kind: o.sourceKind, progress: deps.progress, keepBodyText: true });
  try {
    if (src.level !== 'content') throw new UsageError(`${path} is a block-level source (${src.kind}): --format ${format} needs request content`);
    const writer = new CcProxyDbWriter(out);
    try {
      const progress = deps.progress?.(src.estimatedCount) ?? NO_PROGRESS;
      progress.start(src.estimatedCount ?? 0, 'exporting');
      let batch: RequestRowInput[] = [];
      for await (const r of iterateRequests(src)) {
        deps.signal?.throwIfAborted();
        batch.push({ ...traceRequestToRow(r), id: r.id });
        if (batch.length >= BATCH) {
          writer.write(batch);
          batch = [];
          progress.update(writer.written);
        }
      }
      writer.write(batch);
      progress.stop();
      return { format, out, source_kind: src.kind, requests: writer.written, skipped: src.stats.skipped };
    } finally {
      writer.close();
    }
  } finally {
    src.close();
  }
}
