import type { Clock } from '../shared/clock.js';
import type { PlannedRequest, TimingMode } from './types.js';

/** One send decision: the request and when the plan wanted it sent (clock ms). */
export interface Dispatch {
  request: PlannedRequest;
  plannedAtMs: number;
}

export interface SchedulerOptions {
  timing: TimingMode;
  /** Time compression: waits are divided by it (2 = twice as fast). */
  speed: number;
  clock: Clock;
  signal?: AbortSignal;
  /**
   * Real-clock precision (default 0 = off): sleep until this many ms before a due time, then poll the clock
   * once per event-loop turn (setImmediate, so I/O still runs) until it is due. Node timers fire up to ~1 ms
   * late; this trades a little CPU for sub-millisecond send times. Leave 0 with a ManualClock.
   */
  spinMs?: number;
}

const STOPPED = new Error('schedule stopped');

interface Ready {
  at: number;
  req: PlannedRequest;
}

/**
 * Pacing as an async generator over planned send times:
 * - `recorded`: open loop; each request is due at run start + recorded offset / speed.
 * - `think`: closed loop per agent; due when every dependency (previous turn, spawning turn, joined
 *   sub-agents) has finished + the recorded gap / speed. An agent's first request without dependencies is due
 *   at its recorded offset / speed (sessions and top-level agents start when they started).
 * - `fast`: like think without any waits (dependencies still order the requests).
 * The runner calls `complete(id)` when a response ends (success or failure — failures are data).
 */
export class Scheduler {
  private readonly remainingDeps = new Map<string, Set<string>>();
  private readonly dependents = new Map<string, PlannedRequest[]>();
  private readonly depEnd = new Map<string, number>();
  private readonly ready: Ready[] = [];
  private readonly completed = new Set<string>();
  private wakePromise: Promise<'woken'> | null = null;
  private wakeResolve: (() => void) | null = null;
  private startMs = 0;
  private emitted = 0;

  constructor(
    private readonly requests: readonly PlannedRequest[],
    private readonly options: SchedulerOptions,
  ) {
    if (!(options.speed > 0)) throw new RangeError('speed must be > 0');
  }

  get total(): number {
    return this.requests.length;
  }

  /** Clock time the schedule started (set on the first iteration). */
  get startedAtMs(): number {
    return this.startMs;
  }

  private scale(ms: number): number {
    return this.options.timing === 'fast' ? 0 : ms / this.options.speed;
  }

  async *dispatches(): AsyncGenerator<Dispatch> {
    const { clock, signal, timing } = this.options;
    const spin = Math.max(0, this.options.spinMs ?? 0);
    this.startMs = clock.monotonic();
    const ids = new Set(this.requests.map((r) => r.id));
    for (const r of this.requests) {
      const deps = timing === 'recorded' ? [] : r.deps.filter((d) => ids.has(d));
      if (deps.length === 0) {
        this.push({ at: this.startMs + (timing === 'fast' ? 0 : r.offsetMs / this.options.speed), req: r });
      } else {
        this.remainingDeps.set(r.id, new Set(deps));
        for (const d of deps) {
          let l = this.dependents.get(d);
          if (!l) this.dependents.set(d, (l = []));
          l.push(r);
        }
      }
    }
    // Aborted at the end (or on the caller's abort) so no sleeper outlives the schedule.
    const stop = new AbortController();
    const onAbort = () => stop.abort(STOPPED);
    signal?.addEventListener('abort', onAbort, { once: true });
    const stopped = new Promise<'stopped'>((r) => stop.signal.addEventListener('abort', () => r('stopped'), { once: true }));
    // At most one pending timer: a replaced one (the earliest due time moved) is cancelled, not left to fire.
    let sleep: { at: number; done: Promise<'slept'>; cancel: AbortController } | null = null;
    try {
      while (this.emitted < this.requests.length) {
        if (stop.signal.aborted) return;
        const next = this.ready[0];
        if (!next) {
          // Nothing is due until something completes.
          await Promise.race([this.woken(), stopped]);
          continue;
        }
        const wait = next.at - clock.monotonic();
        if (wait > 0 && wait <= spin) {
          // Last sub-millisecond: poll once per event-loop turn (I/O and completions still run in between).
          await this.spinUntil(next, stop.signal);
          continue;
        }
        if (wait > 0) {
          // Reuse the pending timer when the earliest due time did not change (a completion usually adds later work).
          if (!sleep || sleep.at !== next.at) {
            sleep?.cancel.abort(STOPPED);
            const cancel = new AbortController();
            sleep = {
              at: next.at,
              cancel,
              done: clock.sleep(wait - spin, cancel.signal).then(
                () => 'slept' as const,
                () => 'slept' as const,
              ),
            };
          }
          const why = await Promise.race([sleep.done, this.woken(), stopped]);
          if (why !== 'slept') continue; // woken by a completion (maybe something is due earlier) or stopped
          sleep = null;
          if (next !== this.ready[0]) continue;
          if (next.at > clock.monotonic()) continue;
        }
        this.ready.shift();
        this.emitted++;
        yield { request: next.req, plannedAtMs: next.at };
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      sleep?.cancel.abort(STOPPED);
      stop.abort(STOPPED);
    }
  }

  /** Marks a request finished (at clock.monotonic()); releases the requests waiting for it. */
  complete(id: string): void {
    if (this.completed.has(id)) return;
    this.completed.add(id);
    const now = this.options.clock.monotonic();
    for (const r of this.dependents.get(id) ?? []) {
      const rem = this.remainingDeps.get(r.id);
      if (!rem) continue;
      rem.delete(id);
      this.depEnd.set(r.id, Math.max(this.depEnd.get(r.id) ?? -Infinity, now));
      if (rem.size === 0) {
        this.remainingDeps.delete(r.id);
        this.push({ at: this.depEnd.get(r.id)! + this.scale(r.delayMs), req: r });
      }
    }
    const wake = this.wakeResolve;
    this.wakeResolve = null;
    this.wakePromise = null;
    wake?.();
  }

  private push(x: Ready): void {
    // Sorted insert (stable: equal times keep plan order).
    let lo = 0;
    let hi = this.ready.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = this.ready[mid]!;
      if (m.at < x.at || (m.at === x.at && m.req.index <= x.req.index)) lo = mid + 1;
      else hi = mid;
    }
    this.ready.splice(lo, 0, x);
  }

  /**
   * Resolves once `next` is due, something was queued ahead of it, or the run stopped; checks once per
   * event-loop turn (setImmediate) with one promise for the whole window, so the poll allocates little.
   */
  private spinUntil(next: Ready, stop: AbortSignal): Promise<void> {
    const { clock } = this.options;
    return new Promise<void>((resolve) => {
      const check = () => {
        if (stop.aborted || this.ready[0] !== next || clock.monotonic() >= next.at) resolve();
        else setImmediate(check);
      };
      setImmediate(check);
    });
  }

  /** Resolves at the next completion. */
  private woken(): Promise<'woken'> {
    if (!this.wakePromise) {
      this.wakePromise = new Promise<'woken'>((r) => {
        this.wakeResolve = () => r('woken');
      });
    }
    return this.wakePromise;
  }
}
