import type { MessagesRequest } from '../shared/anthropic.js';
import { lastUserHasToolResult } from './classify.js';

/**
 * Job-level time split (pure): how long an agent or a session took from its first request being sent to its last
 * response ending, and where that time went — model time (at least one of its requests in flight), tool time (idle
 * gap before a request whose last message is a tool_result: the agent was running a tool) and user pause (idle gap
 * before a request that starts with new user text). The split comes from the message kinds of the trace, so the
 * same function splits a recorded session (`trace analyze`) and a replayed one (`trace replay`).
 */

/** What the idle gap before a request was spent on. */
export type GapKind = 'tool' | 'user' | 'other';

/** Kind of the gap before a request with this body: tool_result last → tool; new user text → user. */
export function gapKindOf(body: MessagesRequest | null | undefined): GapKind {
  const msgs = body?.messages;
  if (!Array.isArray(msgs) || msgs.length === 0) return 'other';
  if (lastUserHasToolResult(body ?? null)) return 'tool';
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i]!;
    if (m.role === 'system') continue;
    return m.role === 'user' ? 'user' : 'other';
  }
  return 'other';
}

/** One request of a job: when it was sent / ended (ms, any origin) and the kind of the gap before it. */
export interface JobInterval {
  startMs: number;
  endMs: number;
  gapKind: GapKind;
}

export interface JobSplit {
  requests: number;
  /** First send → last response end. */
  completion_ms: number;
  /** Time with at least one request in flight (union of the request intervals). */
  model_ms: number;
  tool_ms: number;
  user_ms: number;
  /** Idle gaps of unknown kind (block-level traces, side requests). */
  other_ms: number;
}

/** Splits one job; model + tool + user + other = completion. Null for an empty job. */
export function splitJob(intervals: readonly JobInterval[]): JobSplit | null {
  const xs = intervals.filter((x) => Number.isFinite(x.startMs) && Number.isFinite(x.endMs)).sort((a, b) => a.startMs - b.startMs);
  if (xs.length === 0) return null;
  const out: JobSplit = { requests: xs.length, completion_ms: 0, model_ms: 0, tool_ms: 0, user_ms: 0, other_ms: 0 };
  const first = xs[0]!.startMs;
  let busyFrom = first;
  let busyUntil = first;
  for (const x of xs) {
    const end = Math.max(x.startMs, x.endMs);
    if (x.startMs > busyUntil) {
      out.model_ms += busyUntil - busyFrom;
      const gap = x.startMs - busyUntil;
      if (x.gapKind === 'tool') out.tool_ms += gap;
      else if (x.gapKind === 'user') out.user_ms += gap;
      else out.other_ms += gap;
      busyFrom = x.startMs;
    }
    busyUntil = Math.max(busyUntil, end);
  }
  out.model_ms += busyUntil - busyFrom;
  out.completion_ms = busyUntil - first;
  return out;
}

/** A request of a trace or a replay, keyed by session and agent. */
export interface JobItem extends JobInterval {
  session: string;
  agent: string;
}

export interface JobMetrics {
  sessions: ({ session: string } & JobSplit)[];
  agents: ({ session: string; agent: string } & JobSplit)[];
  /** Sum over sessions (completion = Σ session completions). */
  total: JobSplit | null;
}

function grouped(items: readonly JobItem[], key: (i: JobItem) => string): Map<string, JobItem[]> {
  const m = new Map<string, JobItem[]>();
  for (const i of items) {
    const k = key(i);
    let l = m.get(k);
    if (!l) m.set(k, (l = []));
    l.push(i);
  }
  return m;
}

/** Per-session and per-agent splits (sessions and agents in order of their first request). */
export function jobMetrics(items: readonly JobItem[]): JobMetrics {
  const sessions: JobMetrics['sessions'] = [];
  for (const [session, xs] of grouped(items, (i) => i.session)) {
    const s = splitJob(xs);
    if (s) sessions.push({ session, ...s });
  }
  const agents: JobMetrics['agents'] = [];
  for (const xs of grouped(items, (i) => `${i.session}\u0000${i.agent}`).values()) {
    const s = splitJob(xs);
    if (s) agents.push({ session: xs[0]!.session, agent: xs[0]!.agent, ...s });
  }
  let total: JobSplit | null = null;
  for (const s of sessions) {
    total ??= { requests: 0, completion_ms: 0, model_ms: 0, tool_ms: 0, user_ms: 0, other_ms: 0 };
    total.requests += s.requests;
    total.completion_ms += s.completion_ms;
    total.model_ms += s.model_ms;
    total.tool_ms += s.tool_ms;
    total.user_ms += s.user_ms;
    total.other_ms += s.other_ms;
  }
  return { sessions, agents, total };
}
