import { describe, expect, it } from 'vitest';
import { ManualClock, systemClock, type Clock } from '../../src/shared/clock.js';
import { planFromBlocks } from '../../src/replay/plan.js';
import { Scheduler } from '../../src/replay/scheduler.js';
import { runReplay } from '../../src/replay/runner.js';
import { anthropicBackend } from '../../src/replay/backends/anthropic.js';
import type { TimingMode } from '../../src/replay/types.js';
import { createFakeAnthropic, textReply } from '../helpers/fake-anthropic.js';
import { blk, drive, handlerFetch } from './helpers.js';

/** One agent, api time 1 s each, think times 2, 3, 5 s between turns (sum 10 s). */
const THINK = [0, 2, 3, 5];
function chain() {
  let t = 0;
  return THINK.map((think, i) => {
    if (i > 0) t += 1 + think;
    return blk({ id: `r${i}`, t, thinkTime: i === 0 ? null : think, apiTime: 1, hashIds: [1, 2, 100 + i] });
  });
}

async function replay(plan: ReturnType<typeof planFromBlocks>, timing: TimingMode, speed: number, latencyMs = 0) {
  const clock = new ManualClock(1_000_000);
  const fake = createFakeAnthropic({ clock, script: () => textReply('ok ok ok', { delayMs: latencyMs }) });
  return drive(clock, runReplay({
    plan,
    backend: anthropicBackend,
    endpoint: 'http://fake.local',
    apiKey: 'k',
    model: 'target',
    timing,
    speed,
    content: 'synthetic',
    maxConcurrency: 8,
    maxTokens: 16,
    slo: { ttftS: null, tpotS: null },
    clock,
    fetch: handlerFetch(fake.handler),
    config: { source: 'test', source_kind: 'test', conversation: null, label: null, api: 'anthropic' },
  }));
}

describe('replay timing (ManualClock, no sleeps)', () => {
  it('think: wall time ≥ the sum of recorded think times, schedule-lag p99 reported', async () => {
    const res = await replay(planFromBlocks(chain(), 't', 'test'), 'think', 1);
    expect(res.summary.requests.ok).toBe(4);
    expect(res.summary.wall_ms).toBeGreaterThanOrEqual(10_000);
    const sent = res.requests.map((r) => r.sent_at_ms);
    expect(sent).toEqual([0, 2000, 5000, 10_000]);
    expect(res.summary.self_audit.schedule_lag_p99_ms).toBe(0);
    expect(res.summary.schedule_lag_ms.n).toBe(4);
  });

  it('think --speed 2 halves every wait', async () => {
    const one = await replay(planFromBlocks(chain(), 't', 'test'), 'think', 1);
    const two = await replay(planFromBlocks(chain(), 't', 'test'), 'think', 2);
    expect(two.requests.map((r) => r.sent_at_ms)).toEqual(one.requests.map((r) => r.sent_at_ms / 2));
    expect(two.summary.wall_ms).toBe(one.summary.wall_ms / 2);
  });

  it('think is closed-loop: server latency pushes the next turn back', async () => {
    const res = await replay(planFromBlocks(chain(), 't', 'test'), 'think', 1, 4000);
    // each turn: 4 s response + think time
    expect(res.requests.map((r) => r.sent_at_ms)).toEqual([0, 6000, 13_000, 22_000]);
    expect(res.requests.every((r) => r.e2e_ms === 4000)).toBe(true);
  });

  it('recorded is open-loop at recorded offsets / speed, regardless of latency', async () => {
    const plan = planFromBlocks(chain(), 't', 'test');
    const res = await replay(plan, 'recorded', 2, 4000);
    expect(res.requests.map((r) => r.planned_at_ms)).toEqual(plan.requests.map((r) => r.offsetMs / 2));
    expect(res.requests.map((r) => r.sent_at_ms)).toEqual([0, 1500, 3500, 6500]);
  });

  it('fast sends without waiting (order within an agent kept)', async () => {
    const res = await replay(planFromBlocks(chain(), 't', 'test'), 'fast', 1);
    expect(res.requests.map((r) => r.sent_at_ms)).toEqual([0, 0, 0, 0]);
    expect(res.summary.wall_ms).toBe(0);
  });

  it('sub-agents fan out at their recorded spawn offset and the parent waits for the join', async () => {
    // parent p0 [0,1]; two sub-agents spawned by p0 at 2 s; a: [2,3],[4,5]; b: [2,3]; parent p1 at 8 (3 s after join at 5).
    const blocks = [
      blk({ id: 'p0', t: 0, apiTime: 1 }),
      blk({ id: 'a0', t: 2, agentId: 'a', parentAgentId: 'main', apiTime: 1 }),
      blk({ id: 'b0', t: 2, agentId: 'b', parentAgentId: 'main', apiTime: 1 }),
      blk({ id: 'a1', t: 4, agentId: 'a', parentAgentId: 'main', apiTime: 1, thinkTime: 1 }),
      blk({ id: 'p1', t: 8, apiTime: 1, thinkTime: 7 }),
    ];
    const plan = planFromBlocks(blocks, 't', 'test');
    const p1 = plan.requests.find((r) => r.id === 'p1')!;
    expect(p1.deps.sort()).toEqual(['a1', 'b0', 'p0']);
    expect(p1.delayMs).toBe(3000);
    // With server latency = the recorded api time (1 s), the replay reproduces the recorded send offsets.
    const res = await replay(plan, 'think', 1, 1000);
    const at = Object.fromEntries(res.requests.map((r) => [r.id, r.sent_at_ms]));
    expect(at).toEqual({ p0: 0, a0: 2000, b0: 2000, a1: 4000, p1: 8000 });
    // A slow sub-agent delays the parent's next turn (join), not the sibling.
    const slow = await replay(plan, 'think', 1, 3000);
    const s = Object.fromEntries(slow.requests.map((r) => [r.id, r.sent_at_ms]));
    expect(s).toEqual({ p0: 0, a0: 4000, b0: 4000, a1: 8000, p1: 14_000 });
  });

  it('the generator stops at abort', async () => {
    const clock = new ManualClock(0);
    const ac = new AbortController();
    const s = new Scheduler(planFromBlocks(chain(), 't', 'test').requests, { timing: 'recorded', speed: 1, clock, signal: ac.signal });
    const got: string[] = [];
    await drive(clock, (async () => {
      for await (const d of s.dispatches()) {
        got.push(d.request.id);
        if (got.length === 2) ac.abort();
      }
    })());
    expect(got).toEqual(['r0', 'r1']);
  });
});

describe('spinMs (real clock: sleep until spinMs before the due time, then poll once per event-loop turn)', () => {
  /** Six requests 4 ms apart (recorded timing), so several due times fall inside the spin window. */
  const plan = () => planFromBlocks(Array.from({ length: 6 }, (_, i) => blk({ id: `q${i}`, t: i * 0.004, hashIds: [i] })), 't', 'test');

  it('never sends before the planned time, keeps plan order, and ends its timers', async () => {
    let sleeps = 0;
    const counting: Clock = { now: () => systemClock.now(), monotonic: () => systemClock.monotonic(), sleep: (ms, sig) => (sleeps++, systemClock.sleep(ms, sig)) };
    const s = new Scheduler(plan().requests, { timing: 'recorded', speed: 1, clock: counting, spinMs: 1 });
    const got: { id: string; early: number }[] = [];
    for await (const d of s.dispatches()) got.push({ id: d.request.id, early: d.plannedAtMs - counting.monotonic() });
    expect(got.map((g) => g.id)).toEqual(['q0', 'q1', 'q2', 'q3', 'q4', 'q5']);
    // Truthful lag: a dispatch is only yielded once the clock has reached its planned time.
    for (const g of got) expect(g.early).toBeLessThanOrEqual(0);
    // Timers were still used for the long part of each wait (the spin is only the tail).
    expect(sleeps).toBeGreaterThan(0);
  });

  it('a stop during the spin window ends the generator', async () => {
    const ac = new AbortController();
    const p = planFromBlocks([blk({ id: 'a', t: 0, hashIds: [1] }), blk({ id: 'b', t: 0.05, hashIds: [2] })], 't', 'test');
    // spinMs larger than the whole wait: the scheduler only polls, never sleeps, until the abort lands.
    const s = new Scheduler(p.requests, { timing: 'recorded', speed: 1, clock: systemClock, spinMs: 1000, signal: ac.signal });
    const got: string[] = [];
    for await (const d of s.dispatches()) {
      got.push(d.request.id);
      setImmediate(() => ac.abort());
    }
    expect(got).toEqual(['a']);
  });
});
