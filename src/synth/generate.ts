import type { AssistantMessage } from '../shared/anthropic.js';
import type { Tokenizer } from '../analyze/tokenizers/tokenizer.js';
import { chars4Tokenizer } from '../analyze/tokenizers/chars4.js';
import type { RequestRowInput } from '../store/requests-repo.js';
import { ApiCacheModel } from './api-cache-model.js';
import { buildCatalog } from './content.js';
import { renderRow, outputText, type SimExchange } from './render-row.js';
import { Rng } from './rng.js';
import { mainAgent, type AgentKind, type AgentScript, type PlannedRequest, type SessionSpec, type Step } from './session-model.js';

/**
 * `trace synth`: a deterministic generator of realistic agentic Claude Code sessions. A small discrete-event
 * simulation runs agent scripts (src/synth/session-model.ts) against a MODEL of the API: its prompt cache
 * (src/synth/api-cache-model.ts) and its timing (below). Everything is a function of the seed; nothing reads the
 * wall clock. All usage and timing numbers are produced by these models — they are not measurements.
 */
export interface SynthOptions {
  seed: number;
  sessions: number;
  /** Sub-agents fanned out at once in each session's second turn (0 = none). */
  subagents: number;
  /** User turns per session. */
  turns: number;
  /** Epoch ms of the first request. */
  startMs: number;
  tokenizer?: Tokenizer;
}

export const DEFAULT_SYNTH: Omit<SynthOptions, 'tokenizer'> = {
  seed: 1,
  sessions: 2,
  subagents: 4,
  turns: 4,
  startMs: Date.UTC(2026, 0, 12, 9, 0, 0),
};

/**
 * Timing model (per model family): ttft = base latency + prefill of uncached tokens (input + cache creation)
 * + a small cost per cached token read; duration = ttft + output tokens × decode time.
 */
interface TimingModel {
  baseMs: number;
  uncachedMsPerToken: number;
  cachedMsPerToken: number;
  decodeMsPerToken: number;
}
const TIMING: Record<'opus' | 'haiku', TimingModel> = {
  opus: { baseMs: 550, uncachedMsPerToken: 0.04, cachedMsPerToken: 0.0025, decodeMsPerToken: 1000 / 55 },
  haiku: { baseMs: 280, uncachedMsPerToken: 0.012, cachedMsPerToken: 0.001, decodeMsPerToken: 1000 / 140 },
};

export interface SynthRecordMeta {
  id: string;
  kind: AgentKind;
  sessionIndex: number;
  retry: boolean;
}

export interface SynthResult {
  rows: RequestRowInput[];
  /** Per row (same order): what the generator meant by it (for tests and the summary). */
  meta: SynthRecordMeta[];
  summary: SynthSummary;
}

export interface SynthSummary {
  seed: number;
  sessions: number;
  subagentsPerSession: number;
  turnsPerSession: number;
  requests: number;
  byKind: Record<AgentKind, number>;
  brokenStreams: number;
  firstStartedAtMs: number;
  lastEndedAtMs: number;
  usage: { input_tokens: number; cache_read_input_tokens: number; cache_creation_input_tokens: number; output_tokens: number };
  requestBytes: number;
}

interface Proc {
  gen: AgentScript;
  sessionIndex: number;
  onDone?: (value: string, at: number) => void;
}
interface QueueItem {
  at: number;
  order: number;
  proc: Proc;
  value: unknown;
}

/** The simulation's mutable state, shared by the event loop and the API model. */
interface Sim {
  tokenizer: Tokenizer;
  cache: ApiCacheModel;
  idRng: Rng;
  timeRng: Rng;
  exchanges: { x: SimExchange; meta: Omit<SynthRecordMeta, 'id'> }[];
  queue: QueueItem[];
  order: number;
}

export function generateSynthetic(options: Partial<SynthOptions> = {}): SynthResult {
  const o: SynthOptions = { ...DEFAULT_SYNTH, ...options };
  const tokenizer = o.tokenizer ?? chars4Tokenizer;
  const root = new Rng(o.seed);
  const catalog = buildCatalog(root.fork('catalog'));
  const sim: Sim = {
    tokenizer,
    idRng: root.fork('ids'),
    timeRng: root.fork('timing'),
    cache: new ApiCacheModel({ tokenizer }),
    exchanges: [],
    queue: [],
    order: 0,
  };
  const deviceId = root.fork('device').hex(64);
  scheduleSessions(sim, o, root, catalog, deviceId);
  runSimulation(sim);
  return summarizeExchanges(sim.exchanges, o);
}

function schedule(sim: Sim, at: number, proc: Proc, value?: unknown): void {
  sim.queue.push({ at, order: sim.order++, proc, value });
}

/** One main agent per session, the sessions spaced apart by a random gap. */
function scheduleSessions(
  sim: Sim,
  o: SynthOptions,
  root: Rng,
  catalog: ReturnType<typeof buildCatalog>,
  deviceId: string,
): void {
  const sessionRng = root.fork('sessions');
  let offset = 0;
  for (let s = 0; s < o.sessions; s++) {
    if (s > 0) offset += sessionRng.range(45_000, 150_000);
    const spec: SessionSpec = {
      rng: root.fork(`session-${s}`),
      catalog,
      sessionId: sessionRng.uuid(),
      deviceId,
      date: new Date(o.startMs).toISOString().slice(0, 10),
      turns: Math.max(1, o.turns),
      subagents: Math.max(0, o.subagents),
      brokenStream: s === 1,
      workdir: `/home/dev/project-${s + 1}`,
    };
    schedule(sim, o.startMs + offset, { gen: mainAgent(spec), sessionIndex: s });
  }
}

/** Sends one request to the modelled API (cache + timing), records the exchange, and resends a broken stream. */
function send(sim: Sim, req: PlannedRequest, at: number, sessionIndex: number, retry: boolean): { endMs: number } {
  const { cache, idRng, timeRng } = sim;
  const family = req.body.model.includes('haiku') ? TIMING.haiku : TIMING.opus;
  const look = cache.lookup(req.body, at);
  const outTokens = Math.max(1, sim.tokenizer.count(outputText(req.content)));
  const uncached = look.usage.input_tokens + look.usage.cache_creation_input_tokens;
  const ttft =
    family.baseMs * timeRng.lognormal(1, 1.25) +
    uncached * family.uncachedMsPerToken +
    look.usage.cache_read_input_tokens * family.cachedMsPerToken;
  const duration = ttft + outTokens * family.decodeMsPerToken * timeRng.lognormal(1, 1.1);
  cache.commit(look, at + ttft);
  const message: AssistantMessage = {
    id: 'msg_' + idRng.hex(24),
    type: 'message',
    role: 'assistant',
    model: req.body.model,
    content: req.content,
    stop_reason: req.stopReason,
    stop_sequence: null,
    usage: { ...look.usage, output_tokens: outTokens },
  };
  const x: SimExchange = {
    id: idRng.uuid(),
    seq: 0,
    startedAtMs: Math.round(at * 10) / 10,
    // Non-streaming: the whole JSON arrives at the end, so the first byte comes just before the last.
    ttftMs: Math.round((req.body.stream ? ttft : duration - 1) * 10) / 10,
    durationMs: Math.round(duration * 10) / 10,
    body: req.body,
    message,
    requestId: 'req_' + idRng.hex(24),
  };
  if (req.breakStream && req.body.stream) {
    // The stream dies partway through decoding; Claude Code resends the same turn without streaming.
    const brokenAt = ttft + (duration - ttft) * timeRng.range(0.2, 0.6);
    x.durationMs = Math.round(brokenAt * 10) / 10;
    x.brokenAtMs = x.durationMs;
    sim.exchanges.push({ x, meta: { kind: req.kind, sessionIndex, retry } });
    const resendAt = at + brokenAt + timeRng.range(300, 1500);
    return send(sim, { ...req, breakStream: false, body: { ...req.body, stream: false } }, resendAt, sessionIndex, true);
  }
  sim.exchanges.push({ x, meta: { kind: req.kind, sessionIndex, retry } });
  return { endMs: at + duration };
}

/** The discrete-event loop: runs each agent script's next step in time order until every script is done. */
function runSimulation(sim: Sim): void {
  const { queue } = sim;
  let guard = 0;
  while (queue.length > 0) {
    if (++guard > 1_000_000) throw new Error('synth: runaway simulation');
    queue.sort((a, b) => a.at - b.at || a.order - b.order);
    const item = queue.shift()!;
    const { proc, at } = item;
    const r = proc.gen.next(item.value);
    if (r.done) {
      proc.onDone?.(r.value, at);
      continue;
    }
    runStep(sim, r.value, proc, at);
  }
}

function runStep(sim: Sim, step: Step, proc: Proc, at: number): void {
  const { timeRng } = sim;
  switch (step.kind) {
    case 'send': {
      const { endMs } = send(sim, step.request, at, proc.sessionIndex, false);
      schedule(sim, endMs, proc);
      break;
    }
    case 'sleep':
      schedule(sim, at + step.ms, proc);
      break;
    case 'fork':
      schedule(sim, at + timeRng.range(5, 60), { gen: step.child, sessionIndex: proc.sessionIndex });
      schedule(sim, at, proc);
      break;
    case 'spawn': {
      const results: string[] = new Array(step.children.length).fill('');
      let left = step.children.length;
      if (left === 0) {
        schedule(sim, at, proc, results);
        break;
      }
      step.children.forEach((gen, i) => {
        schedule(sim, at + timeRng.range(5, 150), {
          gen,
          sessionIndex: proc.sessionIndex,
          onDone: (value, doneAt) => {
            results[i] = value;
            if (--left === 0) schedule(sim, doneAt + timeRng.range(20, 200), proc, results);
          },
        });
      });
      break;
    }
  }
}

/** Numbers the exchanges in start order, renders them to rows and totals them into the summary. */
function summarizeExchanges(exchanges: Sim['exchanges'], o: SynthOptions): SynthResult {
  exchanges.sort((a, b) => a.x.startedAtMs - b.x.startedAtMs);
  exchanges.forEach((e, i) => (e.x.seq = i + 1));
  const rows = exchanges.map((e) => renderRow(e.x));
  const meta = exchanges.map((e) => ({ id: e.x.id, ...e.meta }));
  const byKind: Record<AgentKind, number> = { main: 0, subagent: 0, title: 0 };
  const usage = { input_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0, output_tokens: 0 };
  for (const e of exchanges) {
    byKind[e.meta.kind]++;
    const u = e.x.message.usage;
    usage.input_tokens += u.input_tokens;
    usage.cache_read_input_tokens += u.cache_read_input_tokens;
    usage.cache_creation_input_tokens += u.cache_creation_input_tokens;
    if (e.x.brokenAtMs === undefined) usage.output_tokens += u.output_tokens;
  }
  return {
    rows,
    meta,
    summary: {
      seed: o.seed,
      sessions: o.sessions,
      subagentsPerSession: o.subagents,
      turnsPerSession: o.turns,
      requests: rows.length,
      byKind,
      brokenStreams: exchanges.filter((e) => e.x.brokenAtMs !== undefined).length,
      firstStartedAtMs: exchanges.length ? exchanges[0]!.x.startedAtMs : o.startMs,
      lastEndedAtMs: Math.max(o.startMs, ...exchanges.map((e) => e.x.startedAtMs + e.x.durationMs)),
      usage,
      requestBytes: rows.reduce((n, r) => n + (r.request_bytes ?? 0), 0),
    },
  };
}
