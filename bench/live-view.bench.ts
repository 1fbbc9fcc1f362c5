/**
 * Live view overhead: the same fake upstream through two `trace capture` processes, one plain and one with `--ui`
 * and 5 idle browser connections on /_trace/events (connected, never reading: the worst browser). Serial requests
 * (c=1), alternating between the two; client-side TTFT and total. Target: added TTFT < 1 ms p50.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request, type Dispatcher } from 'undici';
import type { BenchModule, BenchResult } from './bench.js';
import { createFakeAnthropic, textReply } from '../test/helpers/fake-anthropic.js';
import { one, q, startCapture, type Sample } from './proxy.bench.js';

const SERIAL = 300;
const BROWSERS = 5;

const bench: BenchModule = {
  name: 'live-view',
  description: `added TTFT of trace capture --ui with ${BROWSERS} idle browser connections vs plain capture, c=1 × ${SERIAL}`,
  async run(): Promise<BenchResult> {
    const fake = createFakeAnthropic({ script: () => textReply('The quick brown fox jumps over the lazy dog. '.repeat(4), { pieceSize: 12, eventDelayMs: 1 }) });
    await fake.listen();
    const dir = mkdtempSync(join(tmpdir(), 'trace-bench-live-'));
    const plain = await startCapture(fake.url, join(dir, 'plain.db'));
    const ui = await startCapture(fake.url, join(dir, 'ui.db'), ['--ui']);
    const agent = new Agent({ connections: 4, headersTimeout: 0, bodyTimeout: 0 });
    const browsers = new Agent({ connections: BROWSERS, headersTimeout: 0, bodyTimeout: 0 });
    const sse: Dispatcher.ResponseData[] = [];
    const body = JSON.stringify({ model: 'claude-bench', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'x'.repeat(4000) }] });
    const a: Sample[] = [];
    const b: Sample[] = [];
    try {
      for (let i = 0; i < BROWSERS; i++) {
        const r = await request(`${ui.url}/_trace/events`, { dispatcher: browsers });
        r.body.pause(); // an idle browser: connected, not reading
        sse.push(r);
      }
      for (let i = 0; i < 30; i++) {
        await one(plain.url, agent, body);
        await one(ui.url, agent, body);
      }
      for (let i = 0; i < SERIAL; i++) {
        if (i % 2 === 0) {
          a.push(await one(plain.url, agent, body));
          b.push(await one(ui.url, agent, body));
        } else {
          b.push(await one(ui.url, agent, body));
          a.push(await one(plain.url, agent, body));
        }
      }
    } finally {
      for (const r of sse) r.body.destroy();
      await browsers.destroy();
      await agent.destroy();
      await plain.stop();
      await ui.stop();
      await fake.close();
      rmSync(dir, { recursive: true, force: true });
    }
    const m: Record<string, number> = {};
    const lines: string[] = [];
    for (const metric of ['ttft', 'total'] as const) {
      for (const [pn, pq] of [['p50', 0.5], ['p99', 0.99]] as const) {
        const x = q(a.map((s) => s[metric]), pq);
        const y = q(b.map((s) => s[metric]), pq);
        m[`c1_${metric}_${pn}_capture_ms`] = +x.toFixed(3);
        m[`c1_${metric}_${pn}_capture_ui_ms`] = +y.toFixed(3);
        m[`c1_${metric}_${pn}_added_ms`] = +(y - x).toFixed(3);
        lines.push(`c=1 ${metric.padEnd(5)} ${pn}: capture ${x.toFixed(2)} ms, capture --ui + ${BROWSERS} idle browsers ${y.toFixed(2)} ms → added ${(y - x).toFixed(2)} ms`);
      }
    }
    lines.push(`samples: ${SERIAL} + ${SERIAL} serial, alternating; target: added TTFT < 1 ms p50`);
    return { metrics: m, lines };
  },
};

export default bench;
