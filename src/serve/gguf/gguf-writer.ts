/**
 * Minimal GGUF v3 writer (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): header, typed metadata
 * key/values, tensor infos, alignment padding, tensor data. Enough to write llama-architecture models that
 * llama.cpp / node-llama-cpp load. Little-endian only.
 */
import { openSync, writeSync, closeSync } from 'node:fs';

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as little-endian uint32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** gguf_metadata_value_type */
export const GgufType = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9,
  UINT64: 10, INT64: 11, FLOAT64: 12,
} as const;
type ScalarType = Exclude<(typeof GgufType)[keyof typeof GgufType], 9>;

/** ggml_type for tensor data (only the two we write). */
export const GgmlType = { F32: 0, F16: 1 } as const;
export type GgmlTypeId = (typeof GgmlType)[keyof typeof GgmlType];

export type GgufValue =
  | { type: ScalarType; value: number | bigint | boolean | string }
  | { type: 9; itemType: ScalarType; items: readonly (number | bigint | boolean | string)[] };

export interface GgufTensor {
  name: string;
  /** ne[0] first (the contiguous dimension), as GGUF stores it. */
  dims: number[];
  type: GgmlTypeId;
  /** Raw little-endian data: Float32Array for F32, Uint16Array (IEEE half bits) for F16. */
  data: Float32Array | Uint16Array;
}

class Buf {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(n: number): void { const b = Buffer.alloc(4); b.writeUInt32LE(n); this.push(b); }
  u64(n: number | bigint): void { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); this.push(b); }
  str(s: string): void { const raw = Buffer.from(s, 'utf8'); this.u64(raw.length); this.push(raw); }
  scalar(type: ScalarType, v: number | bigint | boolean | string): void {
    const b = Buffer.alloc(8);
    switch (type) {
      case GgufType.UINT8: b.writeUInt8(Number(v)); return this.push(b.subarray(0, 1));
      case GgufType.INT8: b.writeInt8(Number(v)); return this.push(b.subarray(0, 1));
      case GgufType.UINT16: b.writeUInt16LE(Number(v)); return this.push(b.subarray(0, 2));
      case GgufType.INT16: b.writeInt16LE(Number(v)); return this.push(b.subarray(0, 2));
      case GgufType.UINT32: b.writeUInt32LE(Number(v)); return this.push(b.subarray(0, 4));
      case GgufType.INT32: b.writeInt32LE(Number(v)); return this.push(b.subarray(0, 4));
      case GgufType.FLOAT32: b.writeFloatLE(Number(v)); return this.push(b.subarray(0, 4));
      case GgufType.BOOL: b.writeUInt8(v ? 1 : 0); return this.push(b.subarray(0, 1));
      case GgufType.STRING: return this.str(String(v));
      case GgufType.UINT64: b.writeBigUInt64LE(BigInt(v)); return this.push(b);
      case GgufType.INT64: b.writeBigInt64LE(BigInt(v)); return this.push(b);
      case GgufType.FLOAT64: b.writeDoubleLE(Number(v)); return this.push(b);
    }
  }
  concat(): Buffer { return Buffer.concat(this.chunks, this.length); }
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

/** Serialises header + metadata + tensor infos (+ padding) and streams tensor data to `path`. Returns bytes written. */
export function writeGguf(path: string, metadata: Record<string, GgufValue>, tensors: GgufTensor[]): number {
  const alignment = Number((metadata['general.alignment'] as { value?: number } | undefined)?.value ?? GGUF_DEFAULT_ALIGNMENT);
  const h = new Buf();
  h.u32(GGUF_MAGIC);
  h.u32(GGUF_VERSION);
  h.u64(tensors.length);
  h.u64(Object.keys(metadata).length);
  for (const [key, v] of Object.entries(metadata)) {
    h.str(key);
    h.u32(v.type);
    if (v.type === GgufType.ARRAY) {
      h.u32(v.itemType);
      h.u64(v.items.length);
      for (const item of v.items) h.scalar(v.itemType, item);
    } else h.scalar(v.type, v.value);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    const expected = t.dims.reduce((a, b) => a * b, 1);
    if (t.data.length !== expected) throw new Error(`tensor ${t.name}: ${t.data.length} values for dims ${t.dims.join('x')}`);
    h.str(t.name);
    h.u32(t.dims.length);
    for (const d of t.dims) h.u64(d);
    h.u32(t.type);
    h.u64(offset);
    offsets.push(offset);
    offset = align(offset + t.data.byteLength, alignment);
  }
  const header = h.concat();
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, header);
    writeSync(fd, Buffer.alloc(align(header.length, alignment) - header.length));
    let written = 0;
    tensors.forEach((t, i) => {
      const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      writeSync(fd, bytes);
      written = offsets[i]! + bytes.length;
      const next = i + 1 < tensors.length ? offsets[i + 1]! : written;
      if (next > written) writeSync(fd, Buffer.alloc(next - written));
    });
    return align(header.length, alignment) + written;
  } finally {
    closeSync(fd);
  }
}

/** IEEE 754 half-precision bits of a float (round to nearest). */
export function f32ToF16(val: number): number {
  const f = new Float32Array([val]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  let exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (exp >= 31) return sign | 0x7c00 | (((x >>> 23) & 0xff) === 0xff && mant ? 0x200 : 0);
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant = (mant | 0x800000) >>> (1 - exp);
    return sign | ((mant + 0x1000) >>> 13);
  }
  const h = sign | (exp << 10) | (mant >>> 13);
  return mant & 0x1000 ? h + 1 : h; // round half up on the dropped bits
}
