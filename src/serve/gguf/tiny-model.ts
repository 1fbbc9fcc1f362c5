/**
 * A tiny random-weight llama in GGUF v3: byte-level GPT-2-style BPE vocabulary (256 byte tokens, no merges)
 * plus chatml special tokens, a chatml chat template, f32 or f16 weights, deterministic by seed. It loads in
 * llama.cpp / node-llama-cpp and round-trips any text (every byte is a token), so the engines and the HTTP
 * layer can be tested with real KV-cache behaviour and no downloaded weights. Output text is noise.
 */
import { GgmlType, GgufType, f32ToF16, writeGguf, type GgufTensor, type GgufValue } from './gguf-writer.js';
import { mulberry32 } from '../../shared/prng.js';

export interface TinyModelOptions {
  layers?: number;
  dim?: number;
  heads?: number;
  /** Feed-forward width; default 4 × dim. */
  ff?: number;
  contextLength?: number;
  seed?: number;
  f16?: boolean;
  /** Jinja text for `tokenizer.chat_template` (default: a minimal chatml template without tool support). */
  chatTemplate?: string;
}

export interface TinyModelShape {
  layers: number;
  dim: number;
  heads: number;
  ff: number;
  vocab: number;
  contextLength: number;
  seed: number;
  weightType: 'f32' | 'f16';
  parameters: number;
  bytes: number;
}

/** Special tokens after the 256 byte tokens. */
export const TINY_SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const;
export const TINY_EOS_ID = 258; // <|im_end|>
export const TINY_BOS_ID = 256; // <|endoftext|>

export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** GPT-2's byte → printable unicode char mapping (the vocabulary text of each byte token). */
export function byteToUnicode(): string[] {
  const bs: number[] = [];
  for (let c = 0x21; c <= 0x7e; c++) bs.push(c);
  for (let c = 0xa1; c <= 0xac; c++) bs.push(c);
  for (let c = 0xae; c <= 0xff; c++) bs.push(c);
  const out: string[] = new Array<string>(256);
  for (const b of bs) out[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (out[b] === undefined) out[b] = String.fromCodePoint(256 + n++);
  return out;
}


export function tinyModelShape(o: TinyModelOptions = {}): Omit<TinyModelShape, 'bytes'> {
  const layers = o.layers ?? 2;
  const dim = o.dim ?? 64;
  const heads = o.heads ?? (dim >= 256 ? Math.max(1, Math.floor(dim / 64)) : 4);
  const ff = o.ff ?? 4 * dim;
  if (!(layers >= 1 && dim >= 8 && heads >= 1 && ff >= 1)) throw new RangeError('layers, dim, heads, ff must be positive (dim ≥ 8)');
  if (dim % heads !== 0 || (dim / heads) % 2 !== 0) throw new RangeError(`dim ${dim} must split into ${heads} heads of even size`);
  const vocab = 256 + TINY_SPECIAL_TOKENS.length;
  const parameters = 2 * vocab * dim + dim + layers * (2 * dim + 4 * dim * dim + 3 * dim * ff);
  return { layers, dim, heads, ff, vocab, contextLength: o.contextLength ?? 8192, seed: o.seed ?? 1, weightType: o.f16 ? 'f16' : 'f32', parameters };
}

/** Writes the model to `path`; returns its shape. */
export function writeTinyModel(path: string, o: TinyModelOptions = {}): TinyModelShape {
  const s = tinyModelShape(o);
  const rand = mulberry32(s.seed);
  const wt = o.f16 ? GgmlType.F16 : GgmlType.F32;
  const tensor = (name: string, dims: number[], fill: 'ones' | number): GgufTensor => {
    const n = dims.reduce((a, b) => a * b, 1);
    if (fill === 'ones') return { name, dims, type: GgmlType.F32, data: new Float32Array(n).fill(1) };
    // uniform(-a, a) with std `fill`
    const a = fill * Math.sqrt(3);
    if (wt === GgmlType.F16) {
      const d = new Uint16Array(n);
      for (let i = 0; i < n; i++) d[i] = f32ToF16((rand() * 2 - 1) * a);
      return { name, dims, type: wt, data: d };
    }
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = (rand() * 2 - 1) * a;
    return { name, dims, type: wt, data: d };
  };
  const { dim, ff, vocab, heads } = s;
  const tensors: GgufTensor[] = [tensor('token_embd.weight', [dim, vocab], 1), tensor('output_norm.weight', [dim], 'ones'), tensor('output.weight', [dim, vocab], 1 / Math.sqrt(dim))];
  for (let l = 0; l < s.layers; l++) {
    const p = `blk.${l}.`;
    tensors.push(
      tensor(p + 'attn_norm.weight', [dim], 'ones'),
      tensor(p + 'attn_q.weight', [dim, dim], 1 / Math.sqrt(dim)),
      tensor(p + 'attn_k.weight', [dim, dim], 1 / Math.sqrt(dim)),
      tensor(p + 'attn_v.weight', [dim, dim], 1 / Math.sqrt(dim)),
      tensor(p + 'attn_output.weight', [dim, dim], 1 / Math.sqrt(dim)),
      tensor(p + 'ffn_norm.weight', [dim], 'ones'),
      tensor(p + 'ffn_gate.weight', [dim, ff], 1 / Math.sqrt(dim)),
      tensor(p + 'ffn_up.weight', [dim, ff], 1 / Math.sqrt(dim)),
      tensor(p + 'ffn_down.weight', [ff, dim], 1 / Math.sqrt(ff)),
    );
  }
  const u32 = (value: number): GgufValue => ({ type: GgufType.UINT32, value });
  const str = (value: string): GgufValue => ({ type: GgufType.STRING, value });
  const tokens = [...byteToUnicode(), ...TINY_SPECIAL_TOKENS];
  const metadata: Record<string, GgufValue> = {
    'general.architecture': str('llama'),
    'general.name': str(`trace-tiny-l${s.layers}-d${dim}-s${s.seed}`),
    'general.file_type': u32(o.f16 ? 1 : 0),
    'general.alignment': u32(32),
    'llama.context_length': u32(s.contextLength),
    'llama.embedding_length': u32(dim),
    'llama.block_count': u32(s.layers),
    'llama.feed_forward_length': u32(ff),
    'llama.attention.head_count': u32(heads),
    'llama.attention.head_count_kv': u32(heads),
    'llama.rope.dimension_count': u32(dim / heads),
    'llama.rope.freq_base': { type: GgufType.FLOAT32, value: 10000 },
    'llama.attention.layer_norm_rms_epsilon': { type: GgufType.FLOAT32, value: 1e-5 },
    'llama.vocab_size': u32(vocab),
    'tokenizer.ggml.model': str('gpt2'),
    'tokenizer.ggml.pre': str('default'),
    'tokenizer.ggml.tokens': { type: GgufType.ARRAY, itemType: GgufType.STRING, items: tokens },
    // 1 = normal, 3 = control
    'tokenizer.ggml.token_type': { type: GgufType.ARRAY, itemType: GgufType.INT32, items: tokens.map((_, i) => (i < 256 ? 1 : 3)) },
    'tokenizer.ggml.merges': { type: GgufType.ARRAY, itemType: GgufType.STRING, items: [] },
    'tokenizer.ggml.bos_token_id': u32(TINY_BOS_ID),
    'tokenizer.ggml.eos_token_id': u32(TINY_EOS_ID),
    'tokenizer.ggml.padding_token_id': u32(TINY_BOS_ID),
    'tokenizer.ggml.add_bos_token': { type: GgufType.BOOL, value: false },
    'tokenizer.ggml.add_eos_token': { type: GgufType.BOOL, value: false },
    'tokenizer.chat_template': str(o.chatTemplate ?? CHATML_TEMPLATE),
  };
  const bytes = writeGguf(path, metadata, tensors);
  return { ...s, bytes };
}
