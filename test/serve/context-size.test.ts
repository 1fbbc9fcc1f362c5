/**
 * Default context of `trace serve` (trained context capped by memory) and the metadata-only GGUF reader the
 * managed replay uses to fail fast. Expected numbers are worked out by hand in the comments.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chooseContextSize } from '../../src/serve/context-size.js';
import { readGgufModelInfo } from '../../src/serve/gguf/gguf-info.js';
import { CHATML_TEMPLATE, writeTinyModel } from '../../src/serve/gguf/tiny-model.js';
import { EngineError } from '../../src/shared/errors.js';
import { createLlamaEngine } from '../../src/serve/engines/llama-engine.js';
import { createServeHandler } from '../../src/serve/http/server.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const dir = mkdtempSync(join(tmpdir(), 'trace-ctx-'));

describe('chooseContextSize', () => {
  it('takes the trained context when its KV cache fits', () => {
    // 131072 tokens × 2 slots × 512 B = 128 MiB ≪ 8 GiB − 100 MiB − 819 MiB reserve
    const c = chooseContextSize({ trainContext: 131072, kvBytesPerToken: 512, slots: 2, availableBytes: 8 * GiB, weightsBytes: 100 * MiB });
    expect(c.contextSize).toBe(131072);
    expect(c.source).toBe('trained');
    expect(c.kvBytes).toBe(128 * MiB);
    expect(c.reason).toContain('trained context 131,072');
  });

  it('caps a Qwen3-8B-shaped model by free memory, rounded down to 256 tokens', () => {
    // 36 layers × 8 kv heads × (128 + 128) × 2 B = 147,456 B/token; × 2 slots = 294,912 B/token.
    // 16 GiB free − 5 GiB weights − 1.6 GiB reserve (10 %) = 9.4 GiB = 10,093,173,145.6 B → 34,224.6 tokens → 34,048.
    const c = chooseContextSize({ trainContext: 131072, kvBytesPerToken: 147456, slots: 2, availableBytes: 16 * GiB, weightsBytes: 5 * GiB });
    expect(c.contextSize).toBe(34048);
    expect(c.source).toBe('memory');
    expect(c.reason).toMatch(/131,072 capped to 34,048 by free memory/);
    expect(c.reason).toContain('--ctx-size');
  });

  it('uses the 512 MiB minimum reserve when 10 % is less', () => {
    // 2 GiB free: reserve max(512 MiB, 204.8 MiB) = 512 MiB; 2048 − 1024 − 512 = 512 MiB for KV = 536,870,912 B;
    // 1 slot × 65,536 B/token → 8,192 tokens exactly.
    const c = chooseContextSize({ trainContext: 32768, kvBytesPerToken: 65536, slots: 1, availableBytes: 2 * GiB, weightsBytes: 1 * GiB });
    expect(c.contextSize).toBe(8192);
  });

  it('never goes below 512 tokens and says so', () => {
    const c = chooseContextSize({ trainContext: 32768, kvBytesPerToken: 1 * MiB, slots: 4, availableBytes: 1 * GiB, weightsBytes: 1 * GiB });
    expect(c.contextSize).toBe(512);
    expect(c.reason).toContain('minimum');
  });

  it('--ctx-size wins, capped at the trained context', () => {
    expect(chooseContextSize({ trainContext: 8192, kvBytesPerToken: 512, slots: 2, requested: 4096, availableBytes: 1 }).contextSize).toBe(4096);
    const c = chooseContextSize({ trainContext: 8192, kvBytesPerToken: 512, slots: 2, requested: 20000 });
    expect(c).toMatchObject({ contextSize: 8192, source: 'requested' });
    expect(c.reason).toContain('capped');
  });

  it('without a memory figure takes the trained context', () => {
    expect(chooseContextSize({ trainContext: 40960, kvBytesPerToken: 512, slots: 2 })).toMatchObject({ contextSize: 40960, source: 'trained' });
  });
});

describe('readGgufModelInfo (metadata only)', () => {
  it('reads trained context, KV bytes/token and the chat template of a tiny model', async () => {
    const path = join(dir, 'm.gguf');
    writeTinyModel(path, { layers: 3, dim: 64, heads: 4, contextLength: 4096 });
    const info = await readGgufModelInfo(path);
    // 3 layers × 4 kv heads × (16 + 16) × 2 B = 768
    expect(info).toMatchObject({ architecture: 'llama', trainContext: 4096, kvBytesPerToken: 768, chatTemplate: CHATML_TEMPLATE });
    expect(info.fileBytes).toBeGreaterThan(0);
  });

  it('a missing file or a non-GGUF is a one-line EngineError', async () => {
    await expect(readGgufModelInfo(join(dir, 'nope.gguf'))).rejects.toBeInstanceOf(EngineError);
    const bad = join(dir, 'bad.gguf');
    writeFileSync(bad, 'not a gguf at all');
    await expect(readGgufModelInfo(bad)).rejects.toThrow(/not a readable GGUF/);
  });

  it('the llama engine defaults to the trained context and reports why', async () => {
    const path = join(dir, 'big.gguf');
    writeTinyModel(path, { layers: 1, dim: 16, contextLength: 20000 });
    const engine = await createLlamaEngine({ modelPath: path, cacheBytes: 0, slots: 1, threads: 1, gpu: false, freeMemoryBytes: 8 * GiB });
    try {
      expect(engine.info.contextSize).toBeGreaterThanOrEqual(20000); // llama.cpp pads the context up to a multiple of 256
      expect(engine.info.contextChoice).toMatchObject({ trainContext: 20000, source: 'trained' });
      // /health (what a supervising process polls) says ready and why this context
      const health = (await (await createServeHandler({ engine })(new Request('http://x/health'))).json()) as Record<string, unknown>;
      expect(health).toMatchObject({ status: 'ok', ready: true, engine: 'llama', context_size: engine.info.contextSize, train_context: 20000, context_source: 'trained', kv_bytes_per_token: 64, jinja_template: true });
      expect(String(health.context_reason)).toContain("trained context 20,000");
    } finally {
      await engine.close();
    }
  });
});
