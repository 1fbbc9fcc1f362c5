import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { iterateRequests, openSource } from '../store/sources/index.js';
import { openStore } from '../store/store.js';
import type { DbTarget } from '../store/target.js';
import type { RequestRowInput } from '../store/requests-repo.js';
import type { DatabaseSchema, ResponseLog } from '../store/db-types.js';
import type { TraceRequest } from '../shared/trace-record.js';
import { UsageError } from '../shared/errors.js';
import { NO_PROGRESS } from '../shared/progress.js';
import type { PipelineDeps } from './analysis.js';

/**
 * `trace import`: writes any content source (our requests.db, a claude-code-proxy DB, Claude Code JSONL, anyclaude
 * traces, claude-trace logs, a corpus directory of them) into one store, each row marked with its origin
 * (`import:<kind>`).
 *
 * Idempotent: a row's id is derived from what identifies the API call — `msg:<message id>` when the response had
 * one, else a hash of the source kind, the record id and its start time — and a record whose message id is already
 * stored (captured, or imported from another source) is not written again. Importing twice adds nothing.
 */
export interface ImportOptions {
  sourceKind?: string;
  /** Only records started at or after this time (epoch ms). */
  sinceMs?: number;
  /**
   * Keep request bodies in the raw `body` column (readable by claude-code-proxy) instead of compact
   * content-addressed segments (the default: docs/store.md "Compact bodies").
   */
  rawBodies?: boolean;
}

export interface SourceImportResult {
  path: string;
  kind: string;
  read: number;
  inserted: number;
  /** Already in the store (same id or same message id). */
  existing: number;
  /** Older than --since. */
  older: number;
  skipped: number;
}

export interface ImportResult {
  db: string;
  sources: SourceImportResult[];
  rows_before: number;
  rows_after: number;
  elapsed_ms: number;
  /** Bodies were stored as compact segments (false with --raw-bodies). */
  compact_bodies: boolean;
}

const BATCH = 500;

/** `7d`, `12h`, `30m` (relative to now) or an ISO date/time → epoch ms. */
export function parseSince(value: string, nowMs: number): number {
  const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(value.trim());
  if (m) return nowMs - Number(m[1]) * { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7, w: 6.048e8 }[m[2] as 's']!;
  const t = Date.parse(value);
  if (!Number.isFinite(t)) throw new UsageError(`--since: expected an ISO date or a duration like 7d / 12h, got "${value}"`);
  return t;
}

/** The store id of a record: its message id when it has one (the same call from any source), else a content hash. */
export function importId(r: TraceRequest): string {
  if (r.messageId) return `msg:${r.messageId}`;
  return 'imp:' + createHash('sha256').update(`${r.source}\0${r.id}\0${r.startedAtMs ?? ''}`).digest('hex').slice(0, 32);
}

/** A TraceRequest as a requests row (the columns our capture fills; the response as a claude-code-proxy-style log). */
export function traceRequestToRow(r: TraceRequest): RequestRowInput {
  const u = r.usage;
  const log: Partial<ResponseLog> | null = r.response || r.status !== null
    ? { statusCode: r.status ?? 200, headers: {}, body: r.response ?? undefined, responseTime: r.durationMs ?? 0, isStreaming: r.isStreaming ?? false, completedAt: r.endedAtMs !== null ? new Date(r.endedAtMs).toISOString() : '' }
    : null;
  return {
    id: importId(r),
    timestamp: r.startedAtMs !== null ? new Date(r.startedAtMs).toISOString() : null,
    method: r.method,
    endpoint: r.endpoint,
    headers: '{}',
    body: r.bodyText ?? (r.body ? JSON.stringify(r.body) : ''),
    user_agent: r.userAgent,
    content_type: 'application/json',
    response: log ? JSON.stringify(log) : null,
    model: r.model,
    session_id: r.sessionId,
    is_streaming: r.isStreaming === null ? null : r.isStreaming ? 1 : 0,
    status: r.status,
    started_at_ms: r.startedAtMs,
    ttft_ms: r.ttftMs,
    duration_ms: r.durationMs,
    input_tokens: u?.input_tokens ?? null,
    output_tokens: u?.output_tokens ?? null,
    cache_read_input_tokens: u?.cache_read_input_tokens ?? null,
    cache_creation_input_tokens: u?.cache_creation_input_tokens ?? null,
    stop_reason: r.stopReason,
    message_id: r.messageId,
    error: r.error,
    state: r.error ? 'error' : 'complete',
  };
}

export async function importSources(paths: string[], target: DbTarget, o: ImportOptions, deps: PipelineDeps): Promise<ImportResult> {
  const t0 = deps.clock.monotonic();
  const store = await openStore(target, { logger: deps.logger });
  const sources: SourceImportResult[] = [];
  let before = 0;
  let after = 0;
  try {
    before = await store.countRequests();
    for (const path of paths) {
      if (target.dialect === 'sqlite' && path === target.path) throw new UsageError(`${path} is the target store itself`);
      const src = openSource(path, { logger: deps.logger, kind: o.sourceKind, progress: deps.progress, keepBodyText: true });
      const res: SourceImportResult = { path, kind: src.kind, read: 0, inserted: 0, existing: 0, older: 0, skipped: 0 };
      try {
        if (src.level !== 'content') throw new UsageError(`${path} is a block-level source (${src.kind}): trace import takes request content`);
        const progress = deps.progress?.(src.estimatedCount) ?? NO_PROGRESS;
        progress.start(src.estimatedCount ?? 0, 'importing');
        let batch: RequestRowInput[] = [];
        const flush = async () => {
          if (!batch.length) return;
          const fresh = await withoutKnownMessages(store.db, batch);
          res.existing += batch.length - fresh.length;
          const r = await store.insertRequests(fresh, { origin: `import:${src.kind}` }, { compactBodies: !o.rawBodies });
          res.inserted += r.inserted;
          res.existing += r.existing;
          batch = [];
        };
        for await (const r of iterateRequests(src)) {
          deps.signal?.throwIfAborted();
          res.read++;
          progress.update(res.read);
          if (o.sinceMs !== undefined && (r.startedAtMs === null || r.startedAtMs < o.sinceMs)) {
            res.older++;
            continue;
          }
          batch.push(traceRequestToRow(r));
          if (batch.length >= BATCH) await flush();
        }
        await flush();
        progress.stop();
        res.skipped = src.stats.skipped;
      } finally {
        src.close();
      }
      sources.push(res);
    }
    after = await store.countRequests();
  } finally {
    await store.close();
  }
  const t1 = deps.clock.monotonic();
  return { db: target.display, sources, rows_before: before, rows_after: after, elapsed_ms: t1 - t0, compact_bodies: !o.rawBodies };
}

/** Drops rows whose message id is already stored under another id (e.g. captured by the proxy), and duplicates within the batch. */
async function withoutKnownMessages(db: Kysely<DatabaseSchema>, rows: RequestRowInput[]): Promise<RequestRowInput[]> {
  const seen = new Set<string>();
  const ids = [...new Set(rows.map((r) => r.message_id).filter((m): m is string => !!m))];
  if (ids.length) {
    const found = await db.selectFrom('requests').select(['id', 'message_id']).where('message_id', 'in', ids).execute();
    const own = new Set(rows.map((r) => String(r.id)));
    for (const f of found) if (f.message_id && !own.has(String(f.id))) seen.add(f.message_id);
  }
  const out: RequestRowInput[] = [];
  const batchIds = new Set<string>();
  for (const r of rows) {
    if (r.message_id && seen.has(r.message_id)) continue;
    if (batchIds.has(String(r.id))) continue;
    batchIds.add(String(r.id));
    out.push(r);
  }
  return out;
}
