/**
 * Row bookkeeping for the capture handler, kept off the forwarding path:
 * - `CaptureRows` owns the stats, the writer (a throw is counted and reported once per kind, never rethrown into
 *   forwarding), the optional `onRow` observer (row started / row completed, e.g. a live view), the in-flight
 *   set, `idle()` and the shutdown cut;
 * - `RowRecorder` is one request's row: the pending row (built in the next check phase, after the request went
 *   upstream; written after PENDING_WRITE_HOLD_MS or with the completion) and exactly one completion
 *   (complete / error / aborted), timed with the monotonic clock.
 */
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { errorMessage } from '../shared/errors.js';
import type { RequestRowInput } from '../store/requests-repo.js';
import type { RequestWriter } from './request-writer.js';
import { fallbackRow, pendingRow, type RequestFacts } from './request-record.js';
import { completedRow, type FinalState, type ResponseHeaders } from './completed-row.js';
import type { ObservedResponse, ResponseObserver } from './response-observer.js';

export interface CaptureStats {
  /** Requests received (excluding /_trace/ endpoints). */
  requests: number;
  inFlight: number;
  complete: number;
  /** Upstream unreachable or broke mid-response. */
  errors: number;
  /** Client went away before the response finished, or the proxy cut it at shutdown (counted in `cut` too). */
  aborted: number;
  /** Requests still in flight when the shutdown grace ran out, recorded as aborted. */
  cut: number;
  /** Row writes that threw (forwarding went on). */
  dbWriteErrors: number;
  /** Rows stored with less detail than seen: an undecodable request body, a response the observer failed on. */
  recordErrors: number;
}

/** A row event for observers: `started` carries the pending row, `completed` the final one. */
export interface RowEvent {
  phase: 'started' | 'completed';
  row: RequestRowInput;
}
export type RowObserver = (event: RowEvent) => void;

/** Facts plus the monotonic arrival time. */
export interface RecorderFacts extends RequestFacts {
  startedAtMono: number;
}

export interface FinishArgs {
  state: FinalState;
  status: number | null;
  headers: ResponseHeaders;
  observer: ResponseObserver | null;
  failure?: string;
}

export class CaptureRows {
  readonly stats: CaptureStats = { requests: 0, inFlight: 0, complete: 0, errors: 0, aborted: 0, cut: 0, dbWriteErrors: 0, recordErrors: 0 };
  readonly inFlight = new Set<RowRecorder>();
  private readonly reported = new Set<string>();
  private idleWaiters: (() => void)[] = [];

  constructor(
    readonly clock: Clock,
    private readonly writer: RequestWriter,
    readonly logger: Logger,
    private readonly onRow?: RowObserver,
  ) {}

  /** Counts a write failure; reports it once per kind. */
  reportWriteError(phase: string, e: unknown): void {
    this.stats.dbWriteErrors++;
    const code = (e as { code?: unknown } | null)?.code;
    this.reportOnce(`${phase}:${typeof code === 'string' ? code : e instanceof Error ? e.name : 'error'}:${errorMessage(e).slice(0, 80)}`,
      `capture: cannot write ${phase} row (forwarding continues; further errors of this kind are only counted): ${errorMessage(e)}`);
  }

  /** Counts a row stored with less detail than was seen; reports it once per kind. */
  reportRecordError(kind: string, message: string): void {
    this.stats.recordErrors++;
    this.reportOnce(`record:${kind}`, `capture: ${message} (further errors of this kind are only counted)`);
  }

  private reportOnce(kind: string, message: string): void {
    if (this.reported.has(kind)) return;
    this.reported.add(kind);
    this.logger.error(message);
  }

  write(phase: RowEvent['phase'], row: RequestRowInput): void {
    this.store(phase, row);
    this.notify(phase, row);
  }

  /** Hands a row to the writer (a throw is counted and reported, never rethrown). */
  store(phase: RowEvent['phase'], row: RequestRowInput): void {
    try {
      this.writer.write(row);
    } catch (e) {
      this.reportWriteError(phase === 'started' ? 'pending' : 'complete', e);
    }
  }

  /** Tells the row observer (a live view). */
  notify(phase: RowEvent['phase'], row: RequestRowInput): void {
    if (!this.onRow) return;
    try {
      this.onRow({ phase, row });
    } catch (e) {
      this.reportOnce(`observer:${errorMessage(e).slice(0, 80)}`, `capture: row observer failed (capture continues): ${errorMessage(e)}`);
    }
  }

  begin(facts: RecorderFacts): RowRecorder {
    this.stats.requests++;
    this.stats.inFlight++;
    const r = new RowRecorder(this, facts);
    this.inFlight.add(r);
    return r;
  }

  settle(r: RowRecorder, state: FinalState): void {
    if (!this.inFlight.delete(r)) return;
    if (state === 'complete') this.stats.complete++;
    else if (state === 'error') this.stats.errors++;
    else this.stats.aborted++;
    this.stats.inFlight--;
    if (this.stats.inFlight === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  idle(): Promise<void> {
    return this.stats.inFlight === 0 ? Promise.resolve() : new Promise<void>((r) => this.idleWaiters.push(r));
  }
}

/**
 * How long a built pending row waits for its DB write: it is written when this much time has passed or with the
 * completion (one transaction for both), whichever comes first. A short exchange then costs one write instead of
 * two, and the write (~0.3 ms of SQLite on a small VM) never lands between a fast upstream's answer and the
 * client's first tokens; a real API's first token takes far longer than this, so there the pending row is in the DB
 * while the request waits, as before. The price: a proxy killed within this time of a request loses its pending row.
 */
export const PENDING_WRITE_HOLD_MS = 50;

export class RowRecorder {
  private base: RequestRowInput | undefined;
  private held: RequestRowInput | undefined;
  private holdTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly pendingWritten: Promise<void>;
  private done = false;
  /** Set by the handler: stops the upstream exchange (used by `cut`). */
  abortUpstream: (() => void) | undefined;
  /** Set by the handler once the upstream answered: what a cut row records of the response. */
  response: Pick<FinishArgs, 'status' | 'headers' | 'observer'> | undefined;

  constructor(
    private readonly rows: CaptureRows,
    readonly facts: RecorderFacts,
  ) {
    // Decoding, parsing and redaction run after the request went out (next check phase, while the upstream works).
    this.pendingWritten = new Promise<void>((resolve) => setImmediate(() => {
      this.writePending();
      resolve();
    }));
  }

  private writePending(): void {
    try {
      const p = pendingRow(this.facts);
      this.base = p.row;
      if (p.decodeError) this.rows.reportRecordError('request-encoding', p.decodeError);
    } catch (e) {
      this.rows.reportRecordError('pending', `cannot build the pending row: ${errorMessage(e)}`);
      this.base = fallbackRow(this.facts);
    }
    // The observer (live view) sees the request now; the DB write waits for `release()` (see PENDING_WRITE_HOLD_MS).
    this.rows.notify('started', this.base);
    this.held = this.base;
    this.holdTimer = setTimeout(() => this.release(), PENDING_WRITE_HOLD_MS);
    this.holdTimer.unref?.();
  }

  /** Writes the pending row now if it is still held (the hold timer, the completion and the shutdown cut call it). */
  release(): void {
    const row = this.held;
    if (!row) return;
    this.held = undefined;
    clearTimeout(this.holdTimer);
    this.rows.store('started', row);
  }

  get finished(): boolean {
    return this.done;
  }

  /** Records the end of the exchange (first call wins). */
  async finish(a: FinishArgs): Promise<void> {
    if (this.done) return;
    this.done = true;
    const clock = this.rows.clock;
    try {
      await this.pendingWritten;
      this.release();
      let obs: ObservedResponse | undefined;
      let failure = a.failure;
      try {
        obs = a.observer ? await a.observer.finish() : undefined;
      } catch (e) {
        failure ??= `cannot observe response: ${errorMessage(e)}`;
        this.rows.reportRecordError('observe', failure);
      }
      this.writeFinal(a.state, a.status, a.headers, obs, failure, clock.monotonic() - this.facts.startedAtMono);
    } finally {
      this.rows.settle(this, a.state);
    }
  }

  private writeFinal(state: FinalState, status: number | null, headers: ResponseHeaders, obs: ObservedResponse | undefined, failure: string | undefined, durationMs: number): void {
    const base = this.base ?? fallbackRow(this.facts);
    const endedAtMs = this.facts.startedAtMs + durationMs;
    this.rows.write('completed', completedRow(base, { state, status, headers, obs, failure, durationMs, endedAtMs }));
  }

  /** Shutdown: the exchange is recorded as cut (aborted, with the reason) and the upstream is stopped. */
  cut(reason: string): Promise<void> {
    if (this.done) return Promise.resolve();
    this.rows.stats.cut++;
    const p = this.finish({ state: 'aborted', status: null, headers: null, observer: null, ...this.response, failure: reason });
    this.abortUpstream?.();
    return p;
  }

  /** Last resort when `finish` hangs past the shutdown bound: write the cut row now, without the response. */
  forceWrite(reason: string): void {
    if (!this.rows.inFlight.has(this)) return;
    this.done = true;
    this.release();
    this.writeFinal('aborted', null, null, undefined, reason, this.rows.clock.monotonic() - this.facts.startedAtMono);
    this.rows.settle(this, 'aborted');
  }
}
