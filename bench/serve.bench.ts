import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchModule } from './bench.js';
import type { Engine, GenerateRequest } from '../src/serve/engine.js';
import { ENGINES } from '../src/serve/engines/index.js';
import { writeTinyModel } from '../src/serve/gguf/tiny-model.js';
import { createServeHandler } from '../src/serve/http/server.js';
import { renderPrompt } from '../src/serve/http/chat-template.js';
import { listen } from '../src/serve/listen.js';
import { SseParser } from '../src/shared/sse.js';

/**
 * `trace serve` HTTP layer, measured side by side in one run on a tiny random GGUF (llama engine, CPU):
 * TTFT of a streamed /v1/messages request over a real socket vs. the engine's own time to first token for
 * the same prompt, cold (new ~2k-token system prompt) and warm (same system prompt, new question).
 *
 * TTFT on both sides is the time to the first token that carries TEXT: the random byte-level model often
 * samples a byte that is only part of a UTF-8 character first (text ''), and a client sees nothing until the
 * next token. The HTTP layer's own cost is measured paired, per request: client TTFT minus the time the same
 * request spent in the engine (tokenize + generate until that first text token), through a timing wrapper.
 */
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Timing {
  tokenizeMs: number;
  firstTokenMs: number;
  firstTextMs: number;
}

/** Records, per request, the engine's tokenize time and its time to the first token / first token with text. */
function timed(real: Engine): Engine & { last: Timing } {
  const last: Timing = { tokenizeMs: 0, firstTokenMs: 0, firstTextMs: 0 };
  return {
    last,
    info: real.info,
    cacheStats: () => real.cacheStats(),
    close: () => real.close(),
    detokenize: (t) => real.detokenize(t),
    async tokenize(text) {
      const t0 = performance.now();
      const r = await real.tokenize(text);
      last.tokenizeMs = performance.now() - t0;
      return r;
    },
    async *generate(req: GenerateRequest) {
      const t0 = performance.now();
      last.firstTokenMs = last.firstTextMs = 0;
      for await (const e of real.generate(req)) {
        if (e.type === 'token') {
          if (!last.firstTokenMs) last.firstTokenMs = performance.now() - t0;
          if (!last.firstTextMs && e.text !== '') last.firstTextMs = performance.now() - t0;
        }
        yield e;
      }
    },
  };
}

const bench: BenchModule = {
  name: 'serve',
  description: 'trace serve: HTTP TTFT vs engine TTFT, cold vs warm prefix, HTTP-layer cost per request (tiny GGUF, llama engine)',
  async run() {
    const dir = mkdtempSync(join(tmpdir(), 'trace-serve-bench-'));
    const modelPath = join(dir, 'tiny.gguf');
    writeTinyModel(modelPath, { layers: 2, dim: 64, contextLength: 8192, seed: 3 });
    const engine = timed(await ENGINES.llama!({ modelPath, cacheBytes: 1 << 30, contextSize: 8192, slots: 1 }));
    const handler = createServeHandler({ engine, slots: 1, maxOutputTokens: 8 });
    const server = await listen(handler, { port: 0 });
    const system = (n: number) => `Session ${n}.\n` + Array.from({ length: 40 }, (_, i) => `Rule ${i}: keep the prefix stable so the cache hits.`).join('\n');
    const http = { cold: [] as number[], warm: [] as number[] };
    const direct = { cold: [] as number[], warm: [] as number[], warmFirstToken: [] as number[] };
    const layer: number[] = [];
    const emptyFirst: number[] = [];
    const httpTtft = async (sys: string, q: string, url = server.url) => {
      const t0 = performance.now();
      const res = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny', max_tokens: 8, stream: true, system: sys, messages: [{ role: 'user', content: q }] }) });
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
    let lastFirstToken = 0;
    const engineTtft = async (sys: string, q: string) => {
      const text = renderPrompt(engine.info, { system: sys, tools: [], turns: [{ role: 'user', text: q }] }).text;
      const t0 = performance.now();
      const tokens = await engine.tokenize(text);
      let ttft: number | null = null;
      for await (const ev of engine.generate({ promptTokens: tokens, maxTokens: 8 })) if (ev.type === 'token' && ev.text !== '' && ttft === null) ttft = performance.now() - t0;
      lastFirstToken = engine.last.tokenizeMs + engine.last.firstTokenMs;
      return ttft ?? performance.now() - t0;
    };
    let promptTokens = 0;
    try {
      for (let i = 0; i < 5; i++) {
        http.cold.push(await httpTtft(system(2 * i), 'First question?'));
        for (let k = 0; k < 4; k++) {
          const t = await httpTtft(system(2 * i), `A different question ${k}?`);
          http.warm.push(t);
          if (engine.last.firstTextMs > 0) {
            layer.push(t - engine.last.tokenizeMs - engine.last.firstTextMs);
            emptyFirst.push(engine.last.firstTextMs - engine.last.firstTokenMs);
          }
        }
        direct.cold.push(await engineTtft(system(2 * i + 1), 'First question?'));
        for (let k = 0; k < 4; k++) {
          direct.warm.push(await engineTtft(system(2 * i + 1), `A different question ${k}?`));
          direct.warmFirstToken.push(lastFirstToken);
        }
      }
      promptTokens = (await engine.tokenize(renderPrompt(engine.info, { system: system(0), tools: [], turns: [{ role: 'user', text: 'First question?' }] }).text)).length;
    } finally {
      await server.close();
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    }
    const m = { hc: median(http.cold), hw: median(http.warm), ec: median(direct.cold), ew: median(direct.warm), layer: median(layer), empty: median(emptyFirst), oldMethod: median(http.warm) - median(direct.warmFirstToken) };
    return {
      metrics: {
        prompt_tokens: promptTokens,
        http_ttft_cold_p50_ms: m.hc,
        http_ttft_warm_p50_ms: m.hw,
        engine_ttft_cold_p50_ms: m.ec,
        engine_ttft_warm_p50_ms: m.ew,
        http_warm_speedup: m.hc / m.hw,
        http_overhead_warm_ms: m.hw - m.ew,
        http_layer_ms_p50: m.layer,
        // the earlier bench's figure ("20 ms over the engine"): HTTP TTFT to first text minus engine TTFT to its first token
        http_overhead_old_method_ms: m.oldMethod,
        first_text_after_first_token_ms_p50: m.empty,
      },
      lines: [
        `prompt ≈ ${promptTokens} tokens (tiny 2×64 GGUF, CPU), 5 cold + 20 warm requests per side, medians; TTFT = first token with text`,
        `HTTP /v1/messages TTFT: cold ${m.hc.toFixed(1)} ms, warm ${m.hw.toFixed(1)} ms → ${(m.hc / m.hw).toFixed(1)}× faster with the prefix cached`,
        `engine.generate TTFT:   cold ${m.ec.toFixed(1)} ms, warm ${m.ew.toFixed(1)} ms (difference of medians, unpaired: ${(m.hw - m.ew).toFixed(1)} ms)`,
        `HTTP layer per request (paired: client TTFT − engine tokenize − engine time to first text): ${m.layer.toFixed(2)} ms p50`,
        `old method (HTTP first text − engine first token, unpaired), same run: ${m.oldMethod.toFixed(1)} ms`,
        `first text token comes ${m.empty.toFixed(1)} ms after the first token (partial UTF-8 bytes of the random model; the old bench counted this as HTTP overhead)`,
      ],
    };
  },
};

export default bench;
