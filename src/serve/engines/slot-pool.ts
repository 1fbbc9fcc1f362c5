/**
 * A fixed set of slots (KV states) handed out one request at a time, FIFO for waiters. The choice of slot is
 * made by the caller among the free ones (longest cached prefix first), so prefix reuse decides placement.
 */
export class SlotPool<S extends { id: string }> {
  private readonly busy = new Set<string>();
  private readonly waiters: (() => void)[] = [];
  constructor(readonly slots: readonly S[]) {}

  isFree(id: string): boolean {
    return !this.busy.has(id);
  }

  /** Waits for a free slot, then `choose` picks one among the free slots. Rejects with the signal's reason. */
  async acquire(choose: (free: S[]) => S, signal?: AbortSignal): Promise<S> {
    while (this.busy.size >= this.slots.length) {
      if (signal?.aborted) throw signal.reason;
      await new Promise<void>((resolve, reject) => {
        const wake = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          const i = this.waiters.indexOf(wake);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal!.reason);
        };
        this.waiters.push(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    const slot = choose(this.slots.filter((s) => !this.busy.has(s.id)));
    this.busy.add(slot.id);
    return slot;
  }

  release(slot: S): void {
    this.busy.delete(slot.id);
    this.waiters.shift()?.();
  }
}
