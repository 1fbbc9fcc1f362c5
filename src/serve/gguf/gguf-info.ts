/**
 * Cheap model facts from a GGUF file's metadata, without loading weights (node-llama-cpp's `readGgufFileInfo`
 * reads only the header; tensor infos and the large tokenizer arrays are skipped). Used by `trace serve` to pick
 * its default context size and by managed replays to fail fast when a model cannot hold a trace.
 */
import { stat } from 'node:fs/promises';
import { EngineError, errorMessage } from '../../shared/errors.js';

export interface GgufModelInfo {
  path: string;
  /** `general.architecture` ('llama', 'qwen3', …). */
  architecture: string;
  /** `general.name` when present. */
  name?: string;
  /** `<arch>.context_length`: the context the model was trained for (tokens). */
  trainContext: number;
  /** Bytes of f16 KV cache per token per sequence (llama.cpp's default cache type). */
  kvBytesPerToken: number;
  /** `tokenizer.chat_template` (Jinja) when present. */
  chatTemplate?: string;
  /** File size (≈ the weights' memory). */
  fileBytes: number;
  /** `<arch>.vocab_size` when present (≤ 512 means a byte-level vocabulary: about one token per byte). */
  vocabSize?: number;
}

const num = (v: unknown, d: number): number => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : Array.isArray(v) && v.length > 0 ? Math.max(...(v as number[])) : d);

/**
 * Bytes of f16 KV cache per token, from GGUF metadata: layers × kv_heads × (key_length + value_length) × 2 bytes
 * (key/value lengths default to embedding_length / head_count; per-layer arrays take their maximum).
 */
export function kvBytesPerTokenFromMetadata(meta: Record<string, unknown>): number {
  const general = meta.general as { architecture?: string } | undefined;
  const arch = general?.architecture ?? 'llama';
  const a = (meta[arch] ?? {}) as Record<string, unknown>;
  const att = (a.attention ?? {}) as Record<string, unknown>;
  const layers = num(a.block_count, 1);
  const embd = num(a.embedding_length, 1);
  const heads = num(att.head_count, 1);
  const kvHeads = num(att.head_count_kv, heads);
  const kLen = num(att.key_length, embd / heads);
  const vLen = num(att.value_length, embd / heads);
  return layers * kvHeads * (kLen + vLen) * 2;
}

/** `<arch>.context_length` from parsed GGUF metadata (undefined when absent). */
export function trainContextFromMetadata(meta: Record<string, unknown>): number | undefined {
  const arch = (meta.general as { architecture?: string } | undefined)?.architecture ?? 'llama';
  const v = ((meta[arch] ?? {}) as Record<string, unknown>).context_length;
  const n = num(v, NaN);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** Facts from parsed GGUF metadata (shared by the reader below and the loaded llama engine). */
export function modelInfoFromMetadata(path: string, meta: Record<string, unknown>, fileBytes: number): GgufModelInfo {
  const general = (meta.general ?? {}) as { architecture?: string; name?: string };
  const tpl = (meta.tokenizer as { chat_template?: unknown } | undefined)?.chat_template;
  return {
    path,
    architecture: general.architecture ?? 'llama',
    ...(typeof general.name === 'string' ? { name: general.name } : {}),
    trainContext: trainContextFromMetadata(meta) ?? 4096,
    kvBytesPerToken: kvBytesPerTokenFromMetadata(meta),
    ...(typeof tpl === 'string' && tpl !== '' ? { chatTemplate: tpl } : {}),
    fileBytes,
    ...(Number.isFinite(num(((meta[general.architecture ?? 'llama'] ?? {}) as Record<string, unknown>).vocab_size, NaN))
      ? { vocabSize: num(((meta[general.architecture ?? 'llama'] ?? {}) as Record<string, unknown>).vocab_size, NaN) }
      : {}),
  };
}

/** Big arrays a header read does not need. */
const SKIP_KEYS = ['tokenizer.ggml.tokens', 'tokenizer.ggml.merges', 'tokenizer.ggml.token_type', 'tokenizer.ggml.scores'];

/**
 * Reads a GGUF file's metadata only (no weights; milliseconds even for large models). Throws EngineError with a
 * one-line reason when the file is missing or not a GGUF.
 */
export async function readGgufModelInfo(path: string): Promise<GgufModelInfo> {
  let fileBytes: number;
  try {
    fileBytes = (await stat(path)).size;
  } catch (e) {
    throw new EngineError(`cannot read model ${path}: ${errorMessage(e)}`, { cause: e });
  }
  try {
    const { readGgufFileInfo } = await import('node-llama-cpp');
    const info = await readGgufFileInfo(path, { readTensorInfo: false, logWarnings: false, ignoreKeys: SKIP_KEYS, sourceType: 'filesystem' });
    return modelInfoFromMetadata(path, info.metadata as unknown as Record<string, unknown>, fileBytes);
  } catch (e) {
    throw new EngineError(`${path} is not a readable GGUF model: ${errorMessage(e)}`, { cause: e });
  }
}
