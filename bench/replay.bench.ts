/**
 * Replay client overhead: schedule lag (actual − planned send time) when 200 sessions run concurrently against a
 * zero-latency local Anthropic-compatible server (a child process, so the server does not share the client's
 * event loop), side by side with a single session in the same run. Target: p99 < 2 ms at 200 sessions.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent } from 'undici';
import type { BenchModule } from './bench.js';
import { planFromBlocks } from '../src/replay/plan.js';
import { runReplay } from '../src/replay/runner.js';
import { anthropicBackend } from '../src/replay/backends/anthropic.js';
import { undiciTransport } from '../src/replay/transport.js';
import { systemClock } from '../src/shared/clock.js';
import type { BlockRequest } from '../src/shared/trace-record.js';

const SERVER = `
const http = require('node:http');
const ev = (e, d) => 'event: ' + e + '\\ndata: ' + JSON.stringify(d) + '\\n\\n';
const body = [
  ev('message_start', { type: 'message_start', message: { id: 'msg_b', type: 'message', role: 'assistant', model: 'bench', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 10, cache_read_input_tokens: 0, cache_creation_input_tokens: 0, output_tokens: 1 } } }),
  ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'ok' } }),
  ev('content_block_stop', { type: 'content_block_stop', index: 0 }),
  ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 1 } }),
  ev('message_stop', { type: 'message_stop' }),
].join('');
const srv = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => { res.writeHead(200, { 'content-type': 'text/event-stream' }); res.end(body); });
});
srv.keepAliveTimeout = 60000;
srv.listen(0, '127.0.0.1', () => process.stdout.write(String(srv.address().port) + '\\n'));
`;

async function startServer(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('error', reject);
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

/** `sessions` conversations, `turns` each, 100 ms think time, starts spread over the first second. */
function workload(sessions: number, turns: number): BlockRequest[] {
  const out: BlockRequest[] = [];
  for (let s = 0; s < sessions; s++) {
    const start = (s / sessions) * 1.0;
    for (let i = 0; i < turns; i++) {
      out.push({
        id: `s${s}-${i}`, conversationId: `s${s}`, agentId: 'main', parentAgentId: null, t: start + i * 0.2, model: 'bench',
        inputTokens: 64 * 2 + 5, outputTokens: 1, hashIds: [s * 1000 + 1, s * 1000 + 2 + i], blockSize: 64,
        apiTime: 0.1, thinkTime: i === 0 ? null : 0.1, ttft: null, usage: null, stopReason: 'end_turn',
      });
    }
  }
  return out;
}

async function measure(url: string, sessions: number, turns: number) {
  const dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: sessions, pipelining: 1 });
  const fetch = undiciTransport(dispatcher);
  try {
    const res = await runReplay({
      plan: planFromBlocks(workload(sessions, turns), `bench-${sessions}`, 'bench'),
      backend: anthropicBackend, endpoint: url, apiKey: 'k', model: 'bench', timing: 'think', speed: 1,
      content: 'synthetic', maxConcurrency: sessions, maxTokens: 1, slo: { ttftS: null, tpotS: null },
      clock: systemClock, fetch, cpuUsage: () => process.cpuUsage(),
      config: { source: 'bench', source_kind: 'bench', conversation: null, label: null, api: 'anthropic' },
    });
    return res.summary;
  } finally {
    await dispatcher.destroy();
  }
}

const bench: BenchModule = {
  name: 'replay',
  description: 'replay scheduler: schedule lag p99 at 200 concurrent sessions vs 1 session (zero-latency local server)',
  async run() {
    const { url, child } = await startServer();
    try {
      await measure(url, 20, 2); // warm-up (JIT, connections)
      const one = await measure(url, 1, 10);
      const many = await measure(url, 200, 5);
      const ok = many.requests.ok === many.requests.total && one.requests.ok === one.requests.total;
      const p99 = many.schedule_lag_ms.p99 ?? NaN;
      const p99one = one.schedule_lag_ms.p99 ?? NaN;
      return {
        metrics: {
          sessions: 200,
          requests: many.requests.total,
          all_ok: ok ? 1 : 0,
          schedule_lag_p50_ms: +(many.schedule_lag_ms.p50 ?? NaN).toFixed(3),
          schedule_lag_p99_ms: +p99.toFixed(3),
          schedule_lag_p99_1_session_ms: +p99one.toFixed(3),
          ttft_p50_ms: +(many.ttft_ms.p50 ?? NaN).toFixed(3),
          client_cpu_share: +(many.self_audit.client_cpu_share ?? NaN).toFixed(3),
          target_p99_ms: 2,
        },
        lines: [
          `200 sessions × 5 turns (${many.requests.ok}/${many.requests.total} ok): schedule lag p50 ${many.schedule_lag_ms.p50?.toFixed(3)} ms, p99 ${p99.toFixed(3)} ms, max ${many.schedule_lag_ms.max?.toFixed(3)} ms (target p99 < 2 ms: ${p99 < 2 ? 'met' : 'NOT met'})`,
          `1 session × 10 turns: schedule lag p99 ${p99one.toFixed(3)} ms → 200 sessions / 1 session = ×${(p99 / p99one).toFixed(1)}`,
          `TTFT p50 at 200 sessions ${many.ttft_ms.p50?.toFixed(2)} ms vs 1 session ${one.ttft_ms.p50?.toFixed(2)} ms; client CPU ${(100 * (many.self_audit.client_cpu_share ?? 0)).toFixed(0)} % of a core; ${many.self_audit.note}`,
        ],
      };
    } finally {
      child.kill();
    }
  },
};

export default bench;
