/** Issue 15, defect 2: long analysis work is interruptible (Ctrl-C aborts between records, even for a sync source). */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { interruptible, loadAnalysis } from '../../src/pipelines/analysis.js';
import { AbortedError } from '../../src/shared/errors.js';
import { memoryLogger } from '../../src/shared/logger.js';
import { ManualClock } from '../../src/shared/clock.js';
import { ROOT } from '../helpers/paths.js';

async function* syncLike(n: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) yield i; // microtasks only, like iterateRequests over a sync importer
}

describe('interruptible', () => {
  it('an abort fired from a macrotask (as a SIGINT handler is) stops a microtask-only loop', async () => {
    const ac = new AbortController();
    setImmediate(() => ac.abort(new AbortedError('interrupted (SIGINT)')));
    let seen = 0;
    const run = (async () => {
      for await (const _ of interruptible(syncLike(1_000_000), ac.signal)) seen++;
    })();
    await expect(run).rejects.toBeInstanceOf(AbortedError);
    expect(seen).toBeLessThan(1_000_000);
    expect(seen).toBeGreaterThan(0);
  });

  it('passes every record through when not aborted', async () => {
    const out: number[] = [];
    for await (const x of interruptible(syncLike(100), new AbortController().signal)) out.push(x);
    expect(out).toEqual([...Array(100).keys()]);
  });

  it('loadAnalysis on the example DB rejects with AbortedError when interrupted mid-way', async () => {
    const ac = new AbortController();
    setImmediate(() => ac.abort(new AbortedError('interrupted (SIGINT)')));
    const p = loadAnalysis(join(ROOT, 'examples', 'requests.db'), { tokenizer: 'chars4', storeIndex: false }, { logger: memoryLogger(), clock: new ManualClock(0), signal: ac.signal });
    await expect(p).rejects.toBeInstanceOf(AbortedError);
  });
});
