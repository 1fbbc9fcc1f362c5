import { randomBytes } from 'node:crypto';
import type { Clock } from '../shared/clock.js';
import { errorMessage } from '../shared/errors.js';
import type { MessagesRequest } from '../shared/anthropic.js';
import { anthropicToOpenAI } from '../shared/openai-request.js';
import { SseParser, type SseEvent } from '../shared/sse.js';
import { validateAnthropicStream, validateOpenAiStream, type StreamSummary } from './stream-validators.js';

/**
 * `trace doctor`: the checks people run by hand against a local inference server, against ANY server that
 * speaks the Anthropic Messages or OpenAI Chat Completions API:
 *   cache        — 3 streamed requests with the same long system prompt + tools and different questions:
 *                  the first must create cache (Anthropic: cache_creation_input_tokens > 0), the next two
 *                  must read at least half of the first request's prompt from it.
 *   tool-round-trip — tools + an assistant tool call + its result: accepted (200), answered, and any tool
 *                  call the model makes is well-formed (known tool name, id, JSON object arguments).
 *   stream-format — every streamed response follows the API's framing (see stream-validators.ts).
 *   usage        — usage fields present (Anthropic input/cache fields + output_tokens; OpenAI usage chunk
 *                  with prompt_tokens_details.cached_tokens).
 *   ttft         — every request delivered a first content event; TTFT per request is MEASURED here.
 * Nothing is simulated: every number is what the server returned or what this client timed.
 */

export type DoctorApi = 'anthropic' | 'openai';

export interface DoctorOptions {
  endpoint: string;
  api: DoctorApi;
  model?: string;
  apiKey?: string;
  fetch: typeof fetch;
  clock: Clock;
  /** max_tokens per request (default 32). */
  maxTokens?: number;
  /** Characters of shared system prompt (default 6000, ≥ 1024 tokens for real Anthropic models). */
  prefixChars?: number;
  /** Per-request timeout in ms (default 120 s). */
  timeoutMs?: number;
  /** Called after each request (progress). */
  onRequest?: (r: DoctorRequest) => void;
}

export interface DoctorCheck {
  name: 'cache' | 'tool-round-trip' | 'stream-format' | 'usage' | 'ttft';
  ok: boolean;
  detail: string;
}

export interface DoctorRequest {
  label: string;
  status: number | null;
  error: string | null;
  ttftMs: number | null;
  totalMs: number | null;
  promptTokens: number | null;
  cacheReadTokens: number | null;
  cacheCreationTokens: number | null;
  outputTokens: number | null;
  stopReason: string | null;
  toolCalls: { id: string; name: string; arguments: unknown }[];
  streamErrors: string[];
  usageErrors: string[];
}

export interface DoctorReport {
  endpoint: string;
  api: DoctorApi;
  model: string;
  ok: boolean;
  checks: DoctorCheck[];
  requests: DoctorRequest[];
}

const TOOLS = [
  { name: 'get_weather', description: 'Get the current weather for a city.', schema: { type: 'object', properties: { city: { type: 'string', description: 'City name' } }, required: ['city'] } },
  { name: 'read_file', description: 'Read a text file from disk.', schema: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] } },
];
const QUESTIONS = ['What is the capital of France?', 'Name three prime numbers.', 'What colour is the sky on a clear day?'];

/** A long, varied system prompt (so that caching it matters); starts with a per-run nonce so runs don't share it. */
export function doctorSystemPrompt(nonce: string, chars: number): string {
  const words = ['cache', 'prefix', 'token', 'model', 'server', 'request', 'stream', 'latency', 'context', 'tool', 'answer', 'system', 'prompt', 'reuse', 'memory', 'batch'];
  let s = `Doctor run ${nonce}. You are a concise assistant used to test an inference server.\n`;
  let i = 0;
  while (s.length < chars) {
    const w = (k: number) => words[(i * 7 + k * 3) % words.length]!;
    s += `Rule ${i + 1}: the ${w(0)} and the ${w(1)} keep their ${w(2)} near the ${w(3)}.\n`;
    i++;
  }
  return s;
}

export function normalizeEndpoint(endpoint: string): string {
  return endpoint.replace(/\/+$/, '').replace(/\/v1$/, '');
}

export async function runDoctor(o: DoctorOptions): Promise<DoctorReport> {
  const base = normalizeEndpoint(o.endpoint);
  const maxTokens = o.maxTokens ?? 32;
  const model = o.model ?? (await discoverModel(o, base)) ?? 'default';
  const nonce = randomBytes(6).toString('hex');
  const system = doctorSystemPrompt(nonce, o.prefixChars ?? 6000);
  const requests: DoctorRequest[] = [];
  const run = async (label: string, body: Record<string, unknown>) => {
    const r = await streamRequest(o, base, label, body);
    requests.push(r);
    o.onRequest?.(r);
    return r;
  };

  const cacheReqs: DoctorRequest[] = [];
  for (let i = 0; i < QUESTIONS.length; i++) cacheReqs.push(await run(`cache-${i + 1}`, cacheBody(o.api, model, system, QUESTIONS[i]!, maxTokens)));
  const tool = await run('tool-round-trip', toolBody(o.api, model, maxTokens));

  const checks: DoctorCheck[] = [];
  checks.push(cacheCheck(o.api, cacheReqs));
  checks.push(toolCheck(tool));
  const fmt = requests.filter((r) => r.streamErrors.length > 0);
  checks.push({
    name: 'stream-format',
    ok: fmt.length === 0 && requests.every((r) => r.status === 200),
    detail: fmt.length === 0 ? `${requests.length} streams valid` : fmt.map((r) => `${r.label}: ${r.streamErrors.slice(0, 3).join('; ')}`).join(' | '),
  });
  const us = requests.filter((r) => r.usageErrors.length > 0 || r.status !== 200);
  checks.push({
    name: 'usage',
    ok: us.length === 0,
    detail: us.length === 0 ? 'usage fields present in every response' : us.map((r) => `${r.label}: ${r.error ?? r.usageErrors.join('; ')}`).join(' | '),
  });
  const noTtft = requests.filter((r) => r.ttftMs === null);
  checks.push({
    name: 'ttft',
    ok: noTtft.length === 0,
    detail:
      requests.map((r) => `${r.label} ${r.ttftMs === null ? '-' : r.ttftMs.toFixed(0) + ' ms'}`).join(', ') +
      (noTtft.length > 0 ? ` (no content from ${noTtft.map((r) => r.label).join(', ')})` : ''),
  });
  return { endpoint: base, api: o.api, model, ok: checks.every((c) => c.ok), checks, requests };
}

function cacheCheck(api: DoctorApi, rs: DoctorRequest[]): DoctorCheck {
  const [first, ...rest] = rs;
  const failed = rs.filter((r) => r.status !== 200);
  if (failed.length > 0 || !first) return { name: 'cache', ok: false, detail: `request failed: ${failed.map((r) => `${r.label} ${r.error}`).join('; ')}` };
  const problems: string[] = [];
  if (api === 'anthropic' && !((first.cacheCreationTokens ?? 0) > 0)) problems.push(`cache-1 created no cache (cache_creation_input_tokens ${first.cacheCreationTokens ?? 'missing'})`);
  const need = Math.floor((first.promptTokens ?? 0) / 2);
  for (const r of rest) if (!((r.cacheReadTokens ?? 0) >= need && need > 0)) problems.push(`${r.label} read ${r.cacheReadTokens ?? 'no'} cached tokens (need ≥ ${need}, half the shared prompt)`);
  const summary = rs.map((r) => `${r.label}: read ${r.cacheReadTokens ?? '-'}${api === 'anthropic' ? `, created ${r.cacheCreationTokens ?? '-'}` : ''} of ${r.promptTokens ?? '-'}`).join('; ');
  return { name: 'cache', ok: problems.length === 0, detail: problems.length === 0 ? summary : problems.join('; ') + ` [${summary}]` };
}

function toolCheck(r: DoctorRequest): DoctorCheck {
  if (r.status !== 200) return { name: 'tool-round-trip', ok: false, detail: `tool_result turn refused: ${r.error}` };
  const names = new Set(TOOLS.map((t) => t.name));
  const bad = r.toolCalls.filter((c) => !names.has(c.name) || c.id === '' || c.arguments === null || typeof c.arguments !== 'object' || Array.isArray(c.arguments));
  if (bad.length > 0) return { name: 'tool-round-trip', ok: false, detail: `malformed tool call(s): ${bad.map((c) => `${c.name || '(no name)'} id=${c.id || '(none)'}`).join(', ')}` };
  if (r.streamErrors.length > 0) return { name: 'tool-round-trip', ok: false, detail: 'answer stream invalid (see stream-format)' };
  return {
    name: 'tool-round-trip',
    ok: true,
    detail: r.toolCalls.length > 0 ? `accepted; model called ${r.toolCalls.map((c) => c.name).join(', ')} (well-formed)` : `accepted; answered with text (stop ${r.stopReason})`,
  };
}

/** Request bodies are written once in the Anthropic shape; the OpenAI API gets the shared conversion (the one replay uses). */
function forApi(api: DoctorApi, body: MessagesRequest): Record<string, unknown> {
  return api === 'anthropic' ? { ...body } : { ...anthropicToOpenAI(body) };
}

const anthropicTools = () => TOOLS.map((t) => ({ name: t.name, description: t.description, input_schema: t.schema }));

function cacheBody(api: DoctorApi, model: string, system: string, question: string, maxTokens: number): Record<string, unknown> {
  return forApi(api, {
    model,
    max_tokens: maxTokens,
    stream: true,
    system: [{ type: 'text', text: system, cache_control: { type: 'ephemeral' } }],
    tools: anthropicTools(),
    messages: [{ role: 'user', content: question }],
  } as MessagesRequest);
}

function toolBody(api: DoctorApi, model: string, maxTokens: number): Record<string, unknown> {
  const q = 'What is the weather in Paris right now?';
  const result = '{"city":"Paris","temperature_c":18,"conditions":"sunny"}';
  return forApi(api, {
    model,
    max_tokens: maxTokens,
    stream: true,
    tools: anthropicTools(),
    messages: [
      { role: 'user', content: q },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_doctor_1', name: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_doctor_1', content: result }] },
    ],
  } as MessagesRequest);
}

function headers(o: DoctorOptions): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream' };
  if (o.api === 'anthropic') {
    h['anthropic-version'] = '2023-06-01';
    h['x-api-key'] = o.apiKey ?? 'doctor';
  } else h.authorization = `Bearer ${o.apiKey ?? 'doctor'}`;
  return h;
}

async function discoverModel(o: DoctorOptions, base: string): Promise<string | undefined> {
  try {
    const r = await o.fetch(`${base}/v1/models`, { headers: headers(o), signal: AbortSignal.timeout(o.timeoutMs ?? 120_000) });
    if (!r.ok) return undefined;
    const j = (await r.json()) as { data?: { id?: unknown }[] };
    const id = j.data?.[0]?.id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

async function streamRequest(o: DoctorOptions, base: string, label: string, body: Record<string, unknown>): Promise<DoctorRequest> {
  const path = o.api === 'anthropic' ? '/v1/messages' : '/v1/chat/completions';
  const out: DoctorRequest = {
    label,
    status: null,
    error: null,
    ttftMs: null,
    totalMs: null,
    promptTokens: null,
    cacheReadTokens: null,
    cacheCreationTokens: null,
    outputTokens: null,
    stopReason: null,
    toolCalls: [],
    streamErrors: [],
    usageErrors: [],
  };
  const t0 = o.clock.monotonic();
  try {
    const res = await o.fetch(base + path, { method: 'POST', headers: headers(o), body: JSON.stringify(body), signal: AbortSignal.timeout(o.timeoutMs ?? 120_000) });
    out.status = res.status;
    if (res.status !== 200 || !res.body) {
      const text = await res.text().catch(() => '');
      out.error = `HTTP ${res.status}: ${text.slice(0, 300)}`;
      out.totalMs = o.clock.monotonic() - t0;
      return out;
    }
    const parser = new SseParser();
    const events: SseEvent[] = [];
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      const evs = done ? parser.end() : parser.push(value);
      for (const e of evs) {
        if (out.ttftMs === null && isContent(o.api, e)) out.ttftMs = o.clock.monotonic() - t0;
        events.push(e);
      }
      if (done) break;
    }
    out.totalMs = o.clock.monotonic() - t0;
    const s: StreamSummary = o.api === 'anthropic' ? validateAnthropicStream(events) : validateOpenAiStream(events, true);
    out.streamErrors = s.errors;
    out.usageErrors = s.usageErrors;
    out.stopReason = s.stopReason;
    out.toolCalls = s.toolCalls.map((c) => ({ id: c.id, name: c.name, arguments: c.arguments }));
    if (s.usage) {
      out.promptTokens = s.usage.promptTokens;
      out.cacheReadTokens = s.usage.cacheReadTokens;
      out.cacheCreationTokens = s.usage.cacheCreationTokens;
      out.outputTokens = s.usage.outputTokens;
    }
  } catch (e) {
    out.error = errorMessage(e);
    out.totalMs = o.clock.monotonic() - t0;
  }
  return out;
}

/** The first event that carries model output (text or a tool call) — TTFT. */
function isContent(api: DoctorApi, e: SseEvent): boolean {
  if (e.data === '[DONE]') return false;
  try {
    const d = JSON.parse(e.data) as Record<string, any>;
    if (api === 'anthropic') return d.type === 'content_block_start' || d.type === 'content_block_delta';
    const delta = d.choices?.[0]?.delta;
    return Boolean(delta && ((typeof delta.content === 'string' && delta.content !== '') || delta.tool_calls));
  } catch {
    return false;
  }
}
