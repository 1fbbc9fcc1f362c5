import { HttpError } from './api-error.js';

/**
 * Admission control in front of the engine: at most `slots` generations run at once, at most `maxQueue` wait;
 * one more is refused with an overloaded error (529 Anthropic / 503 OpenAI). Waiting requests whose client
 * went away leave the queue.
 */
export class RequestQueue {
  private running = 0;
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  rejected = 0;

  constructor(
    readonly slots: number,
    readonly maxQueue: number,
  ) {
    if (!(slots >= 1)) throw new RangeError('slots must be >= 1');
    if (!(maxQueue >= 0)) throw new RangeError('maxQueue must be >= 0');
  }

  get active(): number {
    return this.running;
  }
  get depth(): number {
    return this.waiters.length;
  }

  /** Resolves to a release function once a slot is free; throws HttpError(overloaded) when the queue is full. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw new HttpError(499, 'api_error', 'client closed request');
    if (this.running < this.slots && this.waiters.length === 0) {
      this.running++;
      return this.releaser();
    }
    if (this.waiters.length >= this.maxQueue) {
      this.rejected++;
      throw new HttpError(529, 'overloaded_error', `Overloaded: ${this.running} running, ${this.waiters.length} queued (--max-queue ${this.maxQueue})`);
    }
    await new Promise<void>((resolve, reject) => {
      const w = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject,
      };
      const onAbort = () => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new HttpError(499, 'api_error', 'client closed request'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(w);
    });
    return this.releaser();
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiters.shift();
      if (next) next.resolve(); // the slot passes straight to the next waiter
      else this.running--;
    };
  }
}
