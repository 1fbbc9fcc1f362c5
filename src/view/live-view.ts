/**
 * Wiring of the live view for its two hosts: `trace capture --ui` (rows from capture's observer, details from the
 * capture DB) and `trace view <source>` (a finished source read once, details found in it on demand).
 */
import type { Db } from '../store/db.js';
import { getRequest } from '../store/requests-repo.js';
import { rowToTraceRequest } from '../store/sources/requests-row.js';
import type { RequestsTable } from '../store/db-types.js';
import type { RequestRowInput } from '../store/requests-repo.js';
import { iterateRequests, openSource } from '../store/sources/index.js';
import { getTokenizer } from '../analyze/tokenizers/index.js';
import { explorerDetail, toolTokenCounter, type ExplorerDetail } from '../report/explorer/explorer-model.js';
import type { TraceRequest } from '../shared/trace-record.js';
import type { Logger } from '../shared/logger.js';
import type { RowEvent } from '../capture/row-recorder.js';
import { LiveHub } from './live-hub.js';
import { UsageError } from '../shared/errors.js';
import { createUiHandler } from './ui-handler.js';

/** Tool token counts use Anthropic's legacy BPE (as `trace analyze` does), loaded on the first detail asked for. */
function lazyToolTokens(): (json: string) => number | null {
  let count: ((json: string) => number | null) | null = null;
  return (json) => (count ??= toolTokenCounter(getTokenizer('claude')))(json);
}

export interface CaptureUi {
  hub: LiveHub;
  onRow: (e: RowEvent) => void;
  ui: (req: Request) => Promise<Response>;
  close(): void;
}

/** The live view of a running capture. The newest rows are kept for details until the batching writer stored them. */
export function createCaptureUi(db: Db | null, logger: Logger, o: { maxQueue?: number } = {}): CaptureUi {
  const hub = new LiveHub({ logger, live: true, maxQueue: o.maxQueue });
  const recent = new Map<string, RequestRowInput>();
  const RECENT = 64;
  const tokens = lazyToolTokens();
  const onRow = (e: RowEvent) => {
    recent.delete(e.row.id);
    recent.set(e.row.id, e.row);
    if (recent.size > RECENT) recent.delete(recent.keys().next().value!);
    hub.onRow(e);
  };
  const detail = async (id: string): Promise<ExplorerDetail | null> => {
    if (!hub.has(id)) return null;
    const row = (recent.get(id) as Partial<RequestsTable> | undefined) ?? (db ? getRequest(db, id) : undefined);
    return row ? explorerDetail(rowToTraceRequest(row, 'trace-db'), tokens) : null;
  };
  return { hub, onRow, ui: createUiHandler({ hub, detail, logger, title: 'trace capture: live view' }), close: () => hub.close() };
}

/** The view of a finished source (any content source): every request read once into the hub. */
export async function createSourceUi(path: string, o: { sourceKind?: string; logger: Logger; signal?: AbortSignal }): Promise<CaptureUi & { requests: number }> {
  const hub = new LiveHub({ logger: o.logger, live: false });
  const src = openSource(path, { logger: o.logger, kind: o.sourceKind });
  let n = 0;
  try {
    if (src.level !== 'content') throw new UsageError(`${path} is a block-level source (${src.kind}); use trace report for it`);
    for await (const r of iterateRequests(src)) {
      o.signal?.throwIfAborted();
      hub.addRequest(r);
      n++;
    }
  } finally {
    src.close();
  }
  hub.flush();
  const tokens = lazyToolTokens();
  const detail = async (id: string): Promise<ExplorerDetail | null> => {
    if (!hub.has(id)) return null;
    const s = openSource(path, { logger: o.logger, kind: o.sourceKind });
    try {
      for await (const r of iterateRequests(s)) if (r.id === id) return explorerDetail(r as TraceRequest, tokens);
    } finally {
      s.close();
    }
    return null;
  };
  return { hub, onRow: hub.onRow, ui: createUiHandler({ hub, detail, logger: o.logger, title: `trace view: ${path}` }), close: () => hub.close(), requests: n };
}
