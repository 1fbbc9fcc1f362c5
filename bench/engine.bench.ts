/**
 * Engine bench (llama engine on a generated random-weight GGUF, 8 layers × 512 dims, f32): prefill and decode
 * tokens/s, and TTFT (prefillMs: slot acquired → first token sampled) of the SAME ~2k-token prompt cold (an
 * engine with --cache-bytes 0) vs warm (its first 2048 tokens already in a slot's KV from an earlier request),
 * measured side by side in one run. KV bytes per token is computed from the model shape (f16 K+V per layer).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchModule } from './bench.js';
import { writeTinyModel } from '../src/serve/gguf/tiny-model.js';
import { createLlamaEngine } from '../src/serve/engines/llama-engine.js';
import type { Engine, GenerateEvent } from '../src/serve/engine.js';

async function run(engine: Engine, promptTokens: number[], maxTokens: number) {
  let done: Extract<GenerateEvent, { type: 'done' }> | undefined;
  for await (const e of engine.generate({ promptTokens, maxTokens })) if (e.type === 'done') done = e;
  return done!;
}

const bench: BenchModule = {
  name: 'engine',
  description: 'llama engine: prefill/decode tok/s, cold vs warm TTFT on a ~2k-token shared-prefix prompt (8×512 random GGUF)',
  async run() {
    const dir = mkdtempSync(join(tmpdir(), 'trace-engine-bench-'));
    try {
      const modelPath = join(dir, 'l8-d512.gguf');
      const shape = writeTinyModel(modelPath, { layers: 8, dim: 512, seed: 1 });
      const opts = { modelPath, contextSize: 4096, slots: 1, gpu: 'auto' as const };
      const warmEngine = await createLlamaEngine({ ...opts, cacheBytes: 1 << 30 });
      const coldEngine = await createLlamaEngine({ ...opts, cacheBytes: 0 });
      try {
        const words = 'the quick brown fox jumps over the lazy dog while the cache keeps every prefix '.repeat(40);
        const shared = (await warmEngine.tokenize(words)).slice(0, 2048);
        const suffix = await warmEngine.tokenize(' and now a brand new question at the end');
        const prompt = [...shared, ...suffix];
        const seed = await run(warmEngine, shared, 1); // puts the shared prefix in the slot (cold prefill)
        const warm = await run(warmEngine, prompt, 32);
        const cold = await run(coldEngine, prompt, 32);
        const ratio = cold.prefillMs / warm.prefillMs;
        const prefillTps = (cold.promptTokens / cold.prefillMs) * 1000;
        const decodeTps = cold.outputTokens > 1 ? ((cold.outputTokens - 1) / cold.decodeMs) * 1000 : NaN;
        const kv = warmEngine.info.kvBytesPerToken;
        return {
          metrics: {
            model_params: shape.parameters,
            prompt_tokens: prompt.length,
            warm_cached_tokens: warm.cachedTokens,
            cold_ttft_ms: +cold.prefillMs.toFixed(1),
            warm_ttft_ms: +warm.prefillMs.toFixed(1),
            cold_over_warm_ttft: +ratio.toFixed(1),
            prefill_tokens_per_s: +prefillTps.toFixed(1),
            decode_tokens_per_s: +decodeTps.toFixed(1),
            seed_prefill_ms: +seed.prefillMs.toFixed(1),
            kv_bytes_per_token: kv,
          },
          lines: [
            `model: 8 layers × 512 dims, ${(shape.parameters / 1e6).toFixed(1)} M params (f32, random weights), CPU threads: engine default`,
            `TTFT on the same ${prompt.length}-token prompt: cold ${cold.prefillMs.toFixed(0)} ms (cachedTokens ${cold.cachedTokens}) vs warm ${warm.prefillMs.toFixed(1)} ms (cachedTokens ${warm.cachedTokens}) → ${ratio.toFixed(1)}× faster warm`,
            `prefill ${prefillTps.toFixed(0)} tok/s, decode ${decodeTps.toFixed(1)} tok/s (${cold.outputTokens} tokens)`,
            `KV cache: ${kv} bytes/token (computed: layers × (K+V) dims × 2 bytes) → ${((kv * prompt.length) / 2 ** 20).toFixed(1)} MiB for this prompt`,
          ],
        };
      } finally {
        await warmEngine.close();
        await coldEngine.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
export default bench;
