import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchModule } from './bench.js';
import { ENGINES } from '../src/serve/engines/index.js';
import { writeTinyModel } from '../src/serve/gguf/tiny-model.js';
import { createServeHandler } from '../src/serve/http/server.js';
import { renderChat } from '../src/serve/http/chat-template.js';
import { listen } from '../src/serve/listen.js';
import { SseParser } from '../src/shared/sse.js';

/**
 * `trace serve` HTTP layer, measured side by side in one run on a tiny random GGUF (llama engine, CPU):
 * TTFT of a streamed /v1/messages request over a real socket vs. the engine's own time to first token for
 * the same prompt, cold (new ~2k-token system prompt) and warm (same system prompt, new question).
 */
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const bench: BenchModule = {
  name: 'serve',
  description: 'trace serve: HTTP TTFT vs engine TTFT, cold vs warm prefix (tiny GGUF, llama engine)',
  async run() {
    const dir = mkdtempSync(join(tmpdir(), 'trace-serve-bench-'));
    const modelPath = join(dir, 'tiny.gguf');
    writeTinyModel(modelPath, { layers: 2, dim: 64, contextLength: 8192, seed: 3 });
    const engine = await ENGINES.llama!({ modelPath, cacheBytes: 1 << 30, contextSize: 8192, slots: 1 });
    const handler = createServeHandler({ engine, slots: 1, maxOutputTokens: 4 });
    const server = await listen(handler, { port: 0 });
    const system = (n: number) => `Session ${n}.\n` + Array.from({ length: 40 }, (_, i) => `Rule ${i}: keep the prefix stable so the cache hits.`).join('\n');
    const http = { cold: [] as number[], warm: [] as number[] };
    const direct = { cold: [] as number[], warm: [] as number[] };
    const httpTtft = async (sys: string, q: string) => {
      const t0 = performance.now();
      const res = await fetch(`${server.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny', max_tokens: 4, stream: true, system: sys, messages: [{ role: 'user', content: q }] }) });
      const p = new SseParser();
      let ttft: number | null = null;
      const reader = res.body!.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const e of p.push(value)) if (ttft === null && e.event === 'content_block_delta') ttft = performance.now() - t0;
      }
      return ttft ?? performance.now() - t0;
    };
    const engineTtft = async (sys: string, q: string) => {
      const text = renderChat({ system: sys, tools: [], turns: [{ role: 'user', text: q }] }, engine.info.chatTemplate).text;
      const t0 = performance.now();
      const tokens = await engine.tokenize(text);
      let ttft: number | null = null;
      for await (const ev of engine.generate({ promptTokens: tokens, maxTokens: 4 })) if (ev.type === 'token' && ttft === null) ttft = performance.now() - t0;
      return ttft ?? performance.now() - t0;
    };
    let promptTokens = 0;
    try {
      for (let i = 0; i < 3; i++) {
        http.cold.push(await httpTtft(system(2 * i), 'First question?'));
        http.warm.push(await httpTtft(system(2 * i), 'A different second question?'));
        direct.cold.push(await engineTtft(system(2 * i + 1), 'First question?'));
        direct.warm.push(await engineTtft(system(2 * i + 1), 'A different second question?'));
      }
      promptTokens = (await engine.tokenize(renderChat({ system: system(0), tools: [], turns: [{ role: 'user', text: 'First question?' }] }).text)).length;
    } finally {
      await server.close();
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    }
    const m = { hc: median(http.cold), hw: median(http.warm), ec: median(direct.cold), ew: median(direct.warm) };
    return {
      metrics: {
        prompt_tokens: promptTokens,
        http_ttft_cold_p50_ms: m.hc,
        http_ttft_warm_p50_ms: m.hw,
        engine_ttft_cold_p50_ms: m.ec,
        engine_ttft_warm_p50_ms: m.ew,
        http_warm_speedup: m.hc / m.hw,
        http_overhead_warm_ms: m.hw - m.ew,
      },
      lines: [
        `prompt ≈ ${promptTokens} tokens (tiny 2×64 GGUF, CPU), 3 rounds, medians`,
        `HTTP /v1/messages TTFT: cold ${m.hc.toFixed(1)} ms, warm ${m.hw.toFixed(1)} ms → ${(m.hc / m.hw).toFixed(1)}× faster with the prefix cached`,
        `engine.generate TTFT:   cold ${m.ec.toFixed(1)} ms, warm ${m.ew.toFixed(1)} ms`,
        `HTTP layer overhead (warm): ${(m.hw - m.ew).toFixed(1)} ms per request (render + tokenise + SSE + socket)`,
      ],
    };
  },
};

export default bench;
