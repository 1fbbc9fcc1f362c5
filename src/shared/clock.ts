/**
 * Injected time source. Production uses `systemClock`; tests use `ManualClock` (no real sleeps).
 * Timestamps come from `now()` (wall clock, `Date.now()`: right after a laptop sleep or an NTP step); durations
 * from `monotonic()` (never jumps, but stops while the machine sleeps on some systems).
 */
export interface Clock {
  /** Wall-clock milliseconds since the epoch (fractional allowed): for timestamps. */
  now(): number;
  /** Monotonic milliseconds from an arbitrary origin: for durations (differences only). */
  monotonic(): number;
  /** Resolves after `ms` (or rejects with the signal's reason when aborted). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      if (ms <= 0) return resolve();
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/**
 * Deterministic clock for tests: time only moves when `advance`/`advanceTo` is called (sleepers due by then
 * wake in order). Tests that need "run until idle" drive it themselves (see test/replay/helpers.ts `drive`).
 */
export class ManualClock implements Clock {
  private t: number;
  /** Wall time minus monotonic time: moved by `jumpWall` (a laptop sleep, an NTP step). */
  private wallOffset = 0;
  private sleepers: { at: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  constructor(startMs = 0) {
    this.t = startMs;
  }
  now(): number {
    return this.t + this.wallOffset;
  }
  monotonic(): number {
    return this.t;
  }
  /** The wall clock jumps by `ms` while the monotonic clock stands still (a sleep); sleepers are not woken. */
  jumpWall(ms: number): void {
    this.wallOffset += ms;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const s = { at: this.t + ms, resolve, reject };
      this.sleepers.push(s);
      signal?.addEventListener(
        'abort',
        () => {
          this.sleepers = this.sleepers.filter((x) => x !== s);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }
  /** Number of sleepers currently waiting. */
  get pending(): number {
    return this.sleepers.length;
  }
  advance(ms: number): void {
    this.advanceTo(this.t + ms);
  }
  advanceTo(at: number): void {
    if (at < this.t) return;
    for (;;) {
      const due = this.sleepers.filter((s) => s.at <= at).sort((a, b) => a.at - b.at);
      if (due.length === 0) break;
      const first = due[0]!;
      this.t = Math.max(this.t, first.at);
      this.sleepers = this.sleepers.filter((s) => s !== first);
      first.resolve();
    }
    this.t = at;
  }
}
