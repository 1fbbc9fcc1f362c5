/**
 * Proxy overhead: the same local fake upstream (test/helpers/fake-anthropic.ts, in this process) is hit directly
 * and through a real `trace capture` process (dist/, recording into a temp requests.db), in alternating rounds.
 * Each round streams CONCURRENCY requests at once; client-side TTFT (first content event bytes) and total time are
 * measured per request. Reported: p50/p99 of both paths, the added ms and the ratio. A c=1 pass is included to
 * show the per-request overhead without queueing.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { Agent, request } from 'undici';
import { quantileSorted } from '../src/analyze/percentiles.js';
import type { BenchModule, BenchResult } from './bench.js';
import { createFakeAnthropic, textReply } from '../test/helpers/fake-anthropic.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CONCURRENCY = 200;
const ROUNDS = 5;
const SERIAL = 100;

export interface Sample {
  ttft: number;
  total: number;
}

export async function one(url: string, agent: Agent, body: string): Promise<Sample> {
  const t0 = performance.now();
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'bench' }, body, dispatcher: agent });
  let ttft = NaN;
  let seen = '';
  for await (const c of res.body) {
    if (Number.isNaN(ttft)) {
      seen += (c as Buffer).toString();
      if (seen.includes('content_block_')) ttft = performance.now() - t0;
    }
  }
  if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  return { ttft, total: performance.now() - t0 };
}

export function q(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return quantileSorted(s, p) ?? NaN;
}

/** CPU time (user + system, ms) a process has used so far, from /proc (Linux); null elsewhere. */
function cpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / 100; // utime + stime in clock ticks (USER_HZ = 100)
  } catch {
    return null;
  }
}

export async function startCapture(upstream: string, db: string, extraArgs: string[] = [], bin = join(ROOT, 'bin/trace.js')): Promise<{ url: string; pid: number | undefined; stop: () => Promise<void> }> {
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) {
    try {
      execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT });
    } catch {
      /* emitted anyway */
    }
  }
  return startListening([bin, 'capture', '--port', '0', '--upstream', upstream, '--db', db, ...extraArgs]);
}

/** The bare relay (bench/bare-relay.mjs): the floor for one more HTTP hop through Node. */
export function startBareRelay(upstream: string): Promise<{ url: string; pid: number | undefined; stop: () => Promise<void> }> {
  return startListening([join(ROOT, 'bench', 'bare-relay.mjs'), upstream]);
}

async function startListening(args: string[]): Promise<{ url: string; pid: number | undefined; stop: () => Promise<void> }> {
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`capture did not start: ${out}`)), 30_000);
    const on = (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    };
    proc.stdout!.on('data', on);
    proc.stderr!.on('data', on);
    proc.once('exit', (c) => reject(new Error(`capture exited ${c}: ${out}`)));
  });
  return {
    url,
    pid: proc.pid,
    stop: () =>
      new Promise<void>((r) => {
        proc.once('exit', () => r());
        proc.kill('SIGTERM');
      }),
  };
}

const bench: BenchModule = {
  name: 'proxy',
  description: `added latency of trace capture vs direct, ${CONCURRENCY} concurrent streams × ${ROUNDS} rounds (+ ${SERIAL} serial)`,
  async run(): Promise<BenchResult> {
    const fake = createFakeAnthropic({ script: () => textReply('The quick brown fox jumps over the lazy dog. '.repeat(4), { pieceSize: 12, eventDelayMs: 1 }) });
    await fake.listen();
    const dir = mkdtempSync(join(tmpdir(), 'trace-bench-proxy-'));
    const cap = await startCapture(fake.url, join(dir, 'requests.db'));
    let bare: Awaited<ReturnType<typeof startBareRelay>> | undefined;
    const agent = new Agent({ connections: CONCURRENCY, headersTimeout: 0, bodyTimeout: 0 });
    const body = JSON.stringify({ model: 'claude-bench', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'x'.repeat(4000) }] });
    const direct: Sample[] = [];
    const proxied: Sample[] = [];
    const directSerial: Sample[] = [];
    const proxiedSerial: Sample[] = [];
    const bareSerial: Sample[] = [];
    let cpuBefore: number | null = null;
    let cpuAfter: number | null = null;
    try {
      // warm-up (connections, JIT) on both paths
      await Promise.all(Array.from({ length: 50 }, () => one(fake.url, agent, body)));
      await Promise.all(Array.from({ length: 50 }, () => one(cap.url, agent, body)));
      cpuBefore = cpuMs(cap.pid);
      for (let r = 0; r < ROUNDS; r++) {
        const order: [string, Sample[]][] = r % 2 === 0 ? [[fake.url, direct], [cap.url, proxied]] : [[cap.url, proxied], [fake.url, direct]];
        for (const [url, into] of order) into.push(...(await Promise.all(Array.from({ length: CONCURRENCY }, () => one(url, agent, body)))));
      }
      for (let i = 0; i < SERIAL; i++) {
        directSerial.push(await one(fake.url, agent, body));
        proxiedSerial.push(await one(cap.url, agent, body));
      }
      cpuAfter = cpuMs(cap.pid);
      // The bare relay runs only for its own serial pass, so the rounds above have the same processes as before.
      bare = await startBareRelay(fake.url);
      await Promise.all(Array.from({ length: 50 }, () => one(bare!.url, agent, body)));
      for (let i = 0; i < SERIAL; i++) {
        directSerial.push(await one(fake.url, agent, body));
        bareSerial.push(await one(bare.url, agent, body));
        proxiedSerial.push(await one(cap.url, agent, body));
      }
    } finally {
      await agent.destroy();
      await cap.stop();
      await bare?.stop();
      await fake.close();
      rmSync(dir, { recursive: true, force: true });
    }
    const m: Record<string, number> = {};
    const lines: string[] = [];
    for (const [label, d, p] of [
      [`c=${CONCURRENCY}`, direct, proxied],
      ['c=1', directSerial, proxiedSerial],
    ] as const) {
      for (const metric of ['ttft', 'total'] as const) {
        const dv = d.map((s) => s[metric]);
        const pv = p.map((s) => s[metric]);
        const key = `${label.replace('=', '')}_${metric}`;
        for (const [pn, pq] of [['p50', 0.5], ['p99', 0.99]] as const) {
          const a = q(dv, pq);
          const b = q(pv, pq);
          m[`${key}_${pn}_direct_ms`] = +a.toFixed(3);
          m[`${key}_${pn}_proxy_ms`] = +b.toFixed(3);
          m[`${key}_${pn}_added_ms`] = +(b - a).toFixed(3);
          m[`${key}_${pn}_ratio`] = +(b / a).toFixed(3);
          lines.push(
            `${label.padEnd(6)} ${metric.padEnd(5)} ${pn}: direct ${a.toFixed(2)} ms, via proxy ${b.toFixed(2)} ms → added ${(b - a).toFixed(2)} ms (×${(b / a).toFixed(2)})`,
          );
        }
      }
    }
    {
      const d = q(directSerial.map((x) => x.ttft), 0.5);
      const b = q(bareSerial.map((x) => x.ttft), 0.5);
      const p = q(proxiedSerial.map((x) => x.ttft), 0.5);
      m.c1_ttft_p50_bare_relay_added_ms = +(b - d).toFixed(3);
      m.c1_ttft_p50_capture_over_bare_ms = +(p - b).toFixed(3);
      lines.push(`c=1    ttft  p50: a bare Node relay (bench/bare-relay.mjs, no recording) adds ${(b - d).toFixed(2)} ms; trace capture adds ${(p - b).toFixed(2)} ms on top of that hop`);
    }
    if (cpuBefore !== null && cpuAfter !== null) {
      const per = (cpuAfter - cpuBefore) / (proxied.length + SERIAL);
      m.proxy_cpu_ms_per_request = +per.toFixed(3);
      lines.push(`proxy process CPU (user+sys, /proc): ${per.toFixed(2)} ms per proxied request (incl. recording into SQLite)`);
    }
    lines.push(`samples: ${direct.length} + ${proxied.length} concurrent, ${SERIAL} + ${SERIAL} serial; target: added < 1 ms p50, < 5 ms p99`);
    return { metrics: m, lines };
  },
};

export default bench;
