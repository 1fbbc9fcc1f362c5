import { UsageError } from '../shared/errors.js';
import type { PlannedRequest, ReplayPlan } from './types.js';

/**
 * Pure transforms of a replay plan: one request (`--request`), capped idle gaps (`--idle-gap-cap`) and N
 * concurrent copies (`--users`).
 */

function recordedWall(requests: readonly PlannedRequest[]): number | null {
  if (requests.length === 0) return null;
  let end = 0;
  for (const r of requests) end = Math.max(end, r.offsetMs + (r.recorded.apiMs ?? 0));
  return end;
}

/** The plan of one recorded request (exact id or unique id prefix), sent at once with no dependencies. */
export function selectRequest(plan: ReplayPlan, idOrPrefix: string): ReplayPlan {
  let hit = plan.requests.filter((r) => r.id === idOrPrefix);
  if (hit.length === 0) hit = plan.requests.filter((r) => r.id.startsWith(idOrPrefix));
  if (hit.length === 0) throw new UsageError(`no replayable request "${idOrPrefix}" in ${plan.traceName} (${plan.requests.length} requests; ids via \`trace list\` / \`trace show\`)`);
  if (hit.length > 1) throw new UsageError(`request prefix "${idOrPrefix}" is ambiguous: ${hit.slice(0, 5).map((r) => r.id).join(', ')}`);
  const one: PlannedRequest = { ...hit[0]!, index: 0, offsetMs: 0, deps: [], delayMs: 0 };
  return { ...plan, requests: [one], recordedWallMs: one.recorded.apiMs };
}

/**
 * Caps every recorded idle gap at `capMs` (AgentX-style: long human pauses must not dominate wall time): the gap
 * after a request's dependencies, and the gaps between the start offsets of consecutive requests (so agents and
 * sessions that start later keep their order but never wait more than the cap for nothing).
 */
export function capIdleGaps(plan: ReplayPlan, capMs: number): ReplayPlan {
  const cap = Math.max(0, capMs);
  const sorted = [...plan.requests].sort((a, b) => a.offsetMs - b.offsetMs || a.index - b.index);
  const newOffset = new Map<string, number>();
  let prevOld = 0;
  let prevNew = 0;
  let busyUntilOld = 0;
  for (const r of sorted) {
    // gap = time since the latest recorded activity (start or end) before this request
    const lastActivity = Math.max(prevOld, busyUntilOld);
    const gap = Math.max(0, r.offsetMs - lastActivity);
    const shift = gap - Math.min(gap, cap);
    const off = prevNew + (r.offsetMs - prevOld) - shift;
    newOffset.set(r.id, Math.max(prevNew, off));
    prevNew = newOffset.get(r.id)!;
    prevOld = r.offsetMs;
    busyUntilOld = Math.max(busyUntilOld, r.offsetMs + (r.recorded.apiMs ?? 0));
  }
  const requests = plan.requests.map((r) => ({ ...r, offsetMs: newOffset.get(r.id) ?? r.offsetMs, delayMs: Math.min(r.delayMs, cap) }));
  return { ...plan, requests, recordedWallMs: recordedWall(requests) };
}

/**
 * `users` concurrent copies of the trace: copy k (0-based) gets its own request ids, conversations and agents
 * (`…~u<k>`), starts `k × staggerMs` later, and carries `copy = k` (its own cache-bust marker).
 */
export function replicatePlan(plan: ReplayPlan, users: number, staggerMs: number): ReplayPlan {
  if (users <= 1) return plan;
  const requests: PlannedRequest[] = [];
  for (let k = 0; k < users; k++) {
    const sfx = k === 0 ? '' : `~u${k}`;
    for (const r of plan.requests) {
      requests.push({
        ...r,
        id: r.id + sfx,
        conversationId: r.conversationId + sfx,
        agentKey: r.agentKey + sfx,
        parentAgentKey: r.parentAgentKey === null ? null : r.parentAgentKey + sfx,
        deps: r.deps.map((d) => d + sfx),
        offsetMs: r.offsetMs + k * staggerMs,
        copy: k,
      });
    }
  }
  requests.sort((a, b) => a.offsetMs - b.offsetMs || a.copy - b.copy || a.index - b.index);
  requests.forEach((r, i) => (r.index = i));
  return { ...plan, requests, recordedWallMs: plan.recordedWallMs };
}
