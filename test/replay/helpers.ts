import type { BlockRequest } from '../../src/shared/trace-record.js';
import type { FetchLike } from '../../src/replay/backends/index.js';

/** A block-level request for plans built in tests (times in seconds, like BlockRequest). */
export function blk(p: Partial<BlockRequest> & { id: string; t: number }): BlockRequest {
  return {
    conversationId: 'c1',
    agentId: 'main',
    parentAgentId: null,
    model: 'claude-test',
    inputTokens: 128,
    outputTokens: 8,
    hashIds: [1, 2],
    blockSize: 64,
    apiTime: 1,
    thinkTime: null,
    ttft: null,
    usage: null,
    stopReason: 'end_turn',
    ...p,
  };
}

export const handlerFetch = (handler: (r: Request) => Promise<Response>): FetchLike => (url, init) => handler(new Request(url, init));

/**
 * Drives a ManualClock (without autoAdvance) until `p` settles: lets every pending callback run, then moves
 * time forward by `stepMs`. Deterministic as long as every planned time is a multiple of `stepMs`.
 */
export async function drive<T>(clock: import('../../src/shared/clock.js').ManualClock, p: Promise<T>, stepMs = 100, maxMs = 3_600_000): Promise<T> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  const start = clock.now();
  while (!done) {
    for (let i = 0; i < 30 && !done; i++) await new Promise((r) => setImmediate(r));
    if (done) break;
    if (clock.now() - start > maxMs) throw new Error('drive: run did not finish');
    clock.advance(stepMs);
  }
  return p;
}
