/**
 * GGUF v3 writer + tiny model: read back with node-llama-cpp's own GGUF parser (independent of our writer),
 * byte-level determinism by seed, f16 conversion, and the `trace model tiny` command end to end.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import { describe, expect, it } from 'vitest';
import { GgmlType, GgufType, f32ToF16, writeGguf } from '../../src/serve/gguf/gguf-writer.js';
import { byteToUnicode, tinyModelShape, writeTinyModel } from '../../src/serve/gguf/tiny-model.js';
import { TRACE_BIN } from '../helpers/paths.js';
import { createLlamaEngine } from '../../src/serve/engines/llama-engine.js';

const dir = mkdtempSync(join(tmpdir(), 'trace-gguf-'));
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

describe('GGUF v3 writer', () => {
  it('writes metadata of every type and aligned tensors that node-llama-cpp parses back', async () => {
    const path = join(dir, 'kv.gguf');
    const bytes = writeGguf(
      path,
      {
        'general.architecture': { type: GgufType.STRING, value: 'llama' },
        'test.u8': { type: GgufType.UINT8, value: 200 },
        'test.i32': { type: GgufType.INT32, value: -7 },
        'test.f32': { type: GgufType.FLOAT32, value: 0.5 },
        'test.bool': { type: GgufType.BOOL, value: true },
        'test.u64': { type: GgufType.UINT64, value: 5n },
        'test.f64': { type: GgufType.FLOAT64, value: 2.25 },
        'test.arr': { type: GgufType.ARRAY, itemType: GgufType.STRING, items: ['x', 'yz'] },
      },
      [
        { name: 'a', dims: [3], type: GgmlType.F32, data: new Float32Array([1, 2, 3]) },
        { name: 'b', dims: [2, 2], type: GgmlType.F16, data: new Uint16Array([0x3c00, 0, 0, 0x3c00]) },
      ],
    );
    expect(statSync(path).size).toBe(bytes);
    const info = await readGgufFileInfo(path, { logWarnings: false });
    expect(info.version).toBe(3);
    const m = info.metadata as unknown as { test: Record<string, unknown> };
    expect(m.test).toMatchObject({ u8: 200, i32: -7, f32: 0.5, bool: true, f64: 2.25, arr: ['x', 'yz'] });
    expect(BigInt(m.test.u64 as number)).toBe(5n);
    const t = info.tensorInfo!;
    expect(t.map((x) => [x.name, x.dimensions.map(Number), x.ggmlType, Number(x.offset)])).toEqual([
      ['a', [3], 0, 0],
      ['b', [2, 2], 1, 32],
    ]);
    // tensor data sits at the aligned data offset
    const raw = readFileSync(path);
    const dataStart = info.infoEndOffset!;
    expect(dataStart % 32).toBe(0);
    expect(raw.readFloatLE(dataStart + 8)).toBe(3);
    expect(raw.readUInt16LE(dataStart + 32)).toBe(0x3c00);
  });

  it('rejects a tensor whose data does not match its dims', () => {
    expect(() => writeGguf(join(dir, 'bad.gguf'), {}, [{ name: 'x', dims: [4], type: GgmlType.F32, data: new Float32Array(3) }])).toThrow(/3 values/);
  });

  it('converts f32 to IEEE half', () => {
    expect([1, -2, 0, 65504, 2 ** -14, Infinity, 0.1].map(f32ToF16)).toEqual([0x3c00, 0xc000, 0, 0x7bff, 0x0400, 0x7c00, 0x2e66]);
    expect(f32ToF16(2 ** -24)).toBe(1); // smallest subnormal
  });
});

describe('tiny model', () => {
  it('is a llama with a byte-level BPE vocabulary, chatml template and the requested shape', async () => {
    const path = join(dir, 'tiny.gguf');
    const shape = writeTinyModel(path, { layers: 3, dim: 32, heads: 2, seed: 5 });
    expect(shape).toMatchObject({ layers: 3, dim: 32, heads: 2, ff: 128, vocab: 259, weightType: 'f32' });
    const info = await readGgufFileInfo(path, { logWarnings: false });
    const md = info.metadata as unknown as Record<string, Record<string, unknown>>;
    expect(md.general!.architecture).toBe('llama');
    expect(md.llama).toMatchObject({ block_count: 3, embedding_length: 32, feed_forward_length: 128 });
    const tok = md.tokenizer as { ggml: { model: string; tokens: string[]; merges: string[] }; chat_template: string };
    expect(tok.ggml.model).toBe('gpt2');
    expect(tok.ggml.tokens.slice(0, 256)).toEqual(byteToUnicode());
    expect(new Set(tok.ggml.tokens).size).toBe(259);
    expect(tok.ggml.merges).toEqual([]);
    expect(tok.chat_template).toContain('<|im_start|>');
    expect(info.tensorInfo!.length).toBe(3 + 9 * 3);
    expect(statSync(path).size).toBe(shape.bytes);
  });

  it('is deterministic by seed; f16 halves the matrices', () => {
    const a = join(dir, 'a.gguf');
    const b = join(dir, 'b.gguf');
    const c = join(dir, 'c.gguf');
    writeTinyModel(a, { seed: 3 });
    writeTinyModel(b, { seed: 3 });
    writeTinyModel(c, { seed: 4 });
    expect(sha(a)).toBe(sha(b));
    expect(sha(a)).not.toBe(sha(c));
    const h = writeTinyModel(join(dir, 'h.gguf'), { seed: 3, f16: true });
    expect(h.weightType).toBe('f16');
    expect(h.bytes).toBeLessThan(statSync(a).size * 0.6);
  });

  it('f16 weights load and generate in node-llama-cpp', async () => {
    const path = join(dir, 'f16.gguf');
    writeTinyModel(path, { seed: 2, f16: true });
    const engine = await createLlamaEngine({ modelPath: path, cacheBytes: 0, contextSize: 512, slots: 1, threads: 1, gpu: false });
    try {
      const ids = await engine.tokenize('hello');
      expect(ids).toEqual([104, 101, 108, 108, 111]);
      const events = [];
      for await (const e of engine.generate({ promptTokens: ids, maxTokens: 3 })) events.push(e);
      const done = events.at(-1)!;
      expect(done.type).toBe('done');
      if (done.type === 'done') expect(done.stopReason === 'stop' || done.outputTokens === 3).toBe(true);
      expect(events[0]).toMatchObject({ type: 'prefill', promptTokens: 5, cachedTokens: 0 });
    } finally {
      await engine.close();
    }
  });

  it('validates shapes', () => {
    expect(() => tinyModelShape({ dim: 30, heads: 4 })).toThrow(RangeError);
    expect(tinyModelShape({ layers: 8, dim: 512 })).toMatchObject({ heads: 8, ff: 2048 });
  });

  it('`trace model tiny` writes the file and reports it as JSON; bad flags exit 2', () => {
    const out = join(dir, 'cli.gguf');
    const json = JSON.parse(execFileSync(process.execPath, [TRACE_BIN, 'model', 'tiny', '--out', out, '--layers', '1', '--dim', '16', '--seed', '9', '--json'], { encoding: 'utf8' })) as Record<string, unknown>;
    expect(json).toMatchObject({ path: out, layers: 1, dim: 16, heads: 4, vocab: 259, seed: 9, weightType: 'f32' });
    expect(statSync(out).size).toBe(json.bytes);
    let code = 0;
    try {
      execFileSync(process.execPath, [TRACE_BIN, 'model', 'tiny', '--out', out, '--dim', '30'], { stdio: 'pipe' });
    } catch (e) {
      code = (e as { status: number }).status;
    }
    expect(code).toBe(2);
  });
});
