import crypto from 'node:crypto';
import { brotliCompressSync, brotliDecompressSync, constants as zlibConstants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { StoreError } from '../shared/errors.js';
import { JsonScanError, keyIs, scanArray, scanObject, skipWs, type MemberRange } from './json-scan.js';

/**
 * Compact request bodies: a body is cut into content-addressed segments (each tool definition, each system block,
 * each message content block — a message without a block array is one segment) and a skeleton that holds every
 * other byte plus references to the segments, in order. Reassembly concatenates the skeleton's literals and the
 * referenced segments' bytes, so it is byte-exact for ANY input: where the bytes are not a JSON object the scanner
 * can follow, the whole body becomes one segment. A block's top-level `cache_control` member is cut out of its
 * segment and kept in the skeleton, so the marker moving to the newest block does not make older blocks new.
 * References are grouped into content-defined runs (themselves segments), so the per-request skeleton stays small
 * however long the conversation grows.
 *
 * Format (docs/store.md, "Compact bodies"): segment id = first 128 bits of SHA-256 of the segment's bytes, as
 * 32 hex chars. Stored segments and skeletons start with a codec byte (0 raw, 1 deflate-raw, 2 brotli) and are
 * self-describing, so the default codec can change without a migration.
 */

export type SegmentKind = 'tool' | 'system' | 'message' | 'block' | 'value' | 'body' | 'run';

export interface BodySegment {
  /** 32 lowercase hex chars: SHA-256 of `bytes`, first 16 bytes. */
  id: string;
  /** The segment's raw (uncompressed) bytes; a view into the body where no marker was cut out. */
  bytes: Buffer;
  kind: SegmentKind;
  /** Where it first occurs in the body, e.g. `tools[3]`, `system[2]`, `messages[7].content[1]`. */
  path: string;
}

export interface EncodedBody {
  /** Stored form (codec byte + compressed skeleton): store it per request. */
  skeleton: Buffer;
  /** Distinct segments the skeleton references, in first-occurrence order (raw bytes: compress only new ones). */
  segments: BodySegment[];
  /** Byte length of the body. */
  size: number;
  /** False when the body could not be split (not a JSON object the scanner follows): one `body` segment or literal. */
  split: boolean;
}

export type Codec = 'raw' | 'deflate' | 'brotli';

export interface EncodeOptions {
  /** Codec for the skeleton (segments are compressed separately, see compressSegment). Default DEFAULT_CODEC. */
  codec?: Codec;
  /** Pieces shorter than this stay literal in the skeleton (a reference costs 17 bytes). Default 64. */
  minSegmentBytes?: number;
}

/**
 * brotli-5: on the distinct segments of the example/fixture bodies 2.43× smaller vs deflate-6 2.27×, and ~6 % smaller
 * than deflate on the bench session (`npx tsx bench/run.ts body-codec`; docs/store.md). Not part of the format.
 */
export const DEFAULT_CODEC: Codec = 'brotli';
export const ID_BYTES = 16;
const MIN_SEGMENT_BYTES = 64;
/** Top-level members other than tools/system/messages whose value is at least this long become one segment. */
const LARGE_VALUE_BYTES = 1024;

const CODEC_TAG: Record<Codec, number> = { raw: 0, deflate: 1, brotli: 2 };
const SKELETON_MAGIC = 0x54; // 'T'
const SKELETON_VERSION = 1;
/** Skeleton op codes. */
const enum Op {
  Lit = 0,
  Ref = 1,
  Splice = 2,
  Run = 3,
}
/** Runs (see chunkRuns): a boundary after 1 in RUN_AVG_REFS references, at most RUN_MAX_REFS per run. */
const RUN_AVG_REFS = 16;
const RUN_MAX_REFS = 64;
/** Bodies with fewer ops than this keep every op in the skeleton. */
const RUN_MIN_OPS = 24;

// ---------------------------------------------------------------------------------------------------------------
// Hashing and compression

/** One-shot crypto.hash (Node ≥ 20.12) is 2–3× faster than createHash for the many small segments. */
const sha256Hex: (bytes: Uint8Array) => string =
  typeof crypto.hash === 'function' ? (bytes) => crypto.hash('sha256', bytes) : (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');

export function segmentId(bytes: Uint8Array): string {
  return sha256Hex(bytes).slice(0, ID_BYTES * 2);
}

/** Stored form of `bytes`: codec byte + payload; falls back to raw where compression does not shrink it. */
export function compressSegment(bytes: Uint8Array, codec: Codec = DEFAULT_CODEC): Buffer {
  let payload: Buffer | null = null;
  // A window no larger than the segment: most segments are 0.1–10 KB, where setting up the default 4 MB / 32 KB
  // window costs more than compressing (decoders accept any window size, so this is not part of the format).
  const bits = Math.ceil(Math.log2(bytes.length + 1));
  if (codec === 'brotli') {
    payload = brotliCompressSync(bytes, {
      params: {
        [zlibConstants.BROTLI_PARAM_QUALITY]: 5,
        [zlibConstants.BROTLI_PARAM_MODE]: zlibConstants.BROTLI_MODE_TEXT,
        [zlibConstants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
        [zlibConstants.BROTLI_PARAM_LGWIN]: Math.max(10, Math.min(24, bits)),
      },
    });
  } else if (codec === 'deflate') payload = deflateRawSync(bytes, { level: 6, windowBits: Math.max(9, Math.min(15, bits)) });
  const tag = payload && payload.length < bytes.length ? CODEC_TAG[codec] : CODEC_TAG.raw;
  const out = Buffer.allocUnsafe(1 + (tag === CODEC_TAG.raw ? bytes.length : payload!.length));
  out[0] = tag;
  out.set(tag === CODEC_TAG.raw ? bytes : payload!, 1);
  return out;
}

/** Raw bytes of a stored segment or skeleton. */
export function decompressSegment(stored: Uint8Array): Buffer {
  const b = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  const payload = b.subarray(1);
  try {
    switch (b[0]) {
      case CODEC_TAG.raw:
        return payload;
      case CODEC_TAG.deflate:
        return inflateRawSync(payload);
      case CODEC_TAG.brotli:
        return brotliDecompressSync(payload);
    }
  } catch (e) {
    throw new StoreError(`compressed segment is corrupt (${(e as Error).message})`, { cause: e });
  }
  throw new StoreError(`unknown segment codec byte ${b[0] ?? '(empty)'}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Splitting

/** One piece of the body: a literal byte range, or a segment range with an optional cut-out marker range. */
interface Piece {
  start: number;
  end: number;
  kind: SegmentKind;
  path: string;
  /** `[a, b)` inside `[start, end)`: kept in the skeleton, not in the segment. */
  cut?: [number, number];
}

/** The range of an object's top-level `cache_control` member, with one adjoining comma and whitespace. */
function markerRange(b: Buffer, start: number, end: number): [number, number] | undefined {
  if (b[start] !== 0x7b) return undefined;
  let members: MemberRange[];
  try {
    members = scanObject(b, start).members;
  } catch (e) {
    // skipValue only checked strings and brackets: an element that is not a well-formed object is kept uncut
    if (e instanceof JsonScanError) return undefined;
    throw e;
  }
  const k = members.findIndex((m) => keyIs(b, m, 'cache_control'));
  if (k < 0) return undefined;
  const m = members[k]!;
  if (k > 0) return [members[k - 1]!.valueEnd, m.valueEnd]; // `,"cache_control":{…}`
  if (members.length > 1) return [m.keyStart, members[1]!.keyStart]; // `"cache_control":{…},`
  return end - start > 2 ? [start + 1, end - 1] : undefined; // the only member
}

function segmentPiece(b: Buffer, start: number, end: number, kind: SegmentKind, path: string): Piece {
  const cut = markerRange(b, start, end);
  return cut ? { start, end, kind, path, cut } : { start, end, kind, path };
}

function messagePieces(b: Buffer, start: number, end: number, path: string, out: Piece[]): void {
  if (b[start] === 0x7b) {
    const content = scanObject(b, start).members.find((m) => keyIs(b, m, 'content'));
    if (content && b[content.valueStart] === 0x5b) {
      scanArray(b, content.valueStart).elements.forEach(([s, e], j) => out.push(segmentPiece(b, s, e, 'block', `${path}.content[${j}]`)));
      return;
    }
  }
  out.push(segmentPiece(b, start, end, 'message', path));
}

function memberPieces(b: Buffer, m: MemberRange, out: Piece[]): void {
  const name = ['tools', 'system', 'messages'].find((n) => keyIs(b, m, n));
  const { valueStart: s, valueEnd: e } = m;
  if (!name) {
    if (e - s >= LARGE_VALUE_BYTES) out.push({ start: s, end: e, kind: 'value', path: b.toString('utf8', m.keyStart + 1, m.keyEnd - 1) });
    return;
  }
  if (b[s] !== 0x5b) {
    out.push({ start: s, end: e, kind: name === 'system' ? 'system' : 'value', path: name });
    return;
  }
  scanArray(b, s).elements.forEach(([es, ee], i) => {
    const path = `${name}[${i}]`;
    if (name === 'messages') messagePieces(b, es, ee, path, out);
    else out.push(segmentPiece(b, es, ee, name === 'tools' ? 'tool' : 'system', path));
  });
}

/** Segment pieces of a body, in order; null where the body is not a JSON object the scanner can follow. */
function splitBody(b: Buffer): Piece[] | null {
  const start = skipWs(b, 0);
  if (b[start] !== 0x7b) return null;
  try {
    const { members, end } = scanObject(b, start);
    if (skipWs(b, end) !== b.length) return null; // trailing bytes: not one JSON object
    const out: Piece[] = [];
    for (const m of members) memberPieces(b, m, out);
    return out;
  } catch (e) {
    if (e instanceof JsonScanError) return null;
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Skeleton

class ByteWriter {
  private chunks: Buffer[] = [];
  private small: number[] = [];
  private flushSmall(): void {
    if (this.small.length) this.chunks.push(Buffer.from(this.small));
    this.small = [];
  }
  byte(v: number): void {
    this.small.push(v);
  }
  varint(v: number): void {
    while (v >= 0x80) {
      this.small.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    this.small.push(v);
  }
  bytes(b: Uint8Array): void {
    this.flushSmall();
    this.chunks.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }
  done(): Buffer {
    this.flushSmall();
    return Buffer.concat(this.chunks);
  }
}

function toBuffer(body: Uint8Array | string): Buffer {
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** One serialised skeleton op; `boundary`: a content-defined run boundary follows it (see chunkRuns). */
interface OpBytes {
  bytes: Buffer;
  boundary: boolean;
}

/** The leaf ops of a body: literals between segments, REF / SPLICE for segments (collected into `segments`). */
function leafOps(b: Buffer, pieces: Piece[], minBytes: number, segments: Map<string, BodySegment>): OpBytes[] {
  const ops: OpBytes[] = [];
  let lit = 0;
  const literal = (upTo: number) => {
    if (upTo <= lit) return;
    const w = new ByteWriter();
    w.byte(Op.Lit);
    w.varint(upTo - lit);
    w.bytes(b.subarray(lit, upTo));
    ops.push({ bytes: w.done(), boundary: false });
  };
  for (const p of pieces) {
    const cutLen = p.cut ? p.cut[1] - p.cut[0] : 0;
    if (p.end - p.start - cutLen < minBytes) continue; // stays in the literal run
    literal(p.start);
    const bytes = p.cut ? Buffer.concat([b.subarray(p.start, p.cut[0]), b.subarray(p.cut[1], p.end)]) : b.subarray(p.start, p.end);
    const id = segmentId(bytes);
    if (!segments.has(id)) segments.set(id, { id, bytes, kind: p.kind, path: p.path });
    const idBytes = Buffer.from(id, 'hex');
    const w = new ByteWriter();
    w.byte(p.cut ? Op.Splice : Op.Ref);
    w.bytes(idBytes);
    if (p.cut) {
      w.varint(p.cut[0] - p.start);
      w.varint(cutLen);
      w.bytes(b.subarray(p.cut[0], p.cut[1]));
    }
    ops.push({ bytes: w.done(), boundary: idBytes[ID_BYTES - 1]! % RUN_AVG_REFS === 0 });
    lit = p.end;
  }
  literal(b.length);
  return ops;
}

/**
 * Groups the ops into runs that are themselves segments, so a skeleton costs O(runs), not O(blocks): a run ends
 * after a reference whose id's last byte is 0 mod RUN_AVG_REFS (content-defined, so the runs of an append-only
 * history are the same in every request) or after RUN_MAX_REFS references. The ops after the last boundary (the
 * newest blocks, which change every request) stay inline.
 */
function chunkRuns(ops: OpBytes[], segments: Map<string, BodySegment>): Buffer[] {
  const top: Buffer[] = [];
  let run: Buffer[] = [];
  let refs = 0;
  for (const o of ops) {
    run.push(o.bytes);
    if (o.bytes[0] !== Op.Lit) refs++;
    if (!o.boundary && refs < RUN_MAX_REFS) continue;
    if (run.length === 1) top.push(run[0]!);
    else {
      const bytes = Buffer.concat(run);
      const id = segmentId(bytes);
      if (!segments.has(id)) segments.set(id, { id, bytes, kind: 'run', path: '' });
      top.push(Buffer.from([Op.Run]), Buffer.from(id, 'hex'));
    }
    run = [];
    refs = 0;
  }
  top.push(...run);
  return top;
}

/**
 * Cuts a body into a skeleton and its distinct segments. Pure: no IO; the caller stores the skeleton and those of
 * `segments` its store does not have yet (compressed with compressSegment), or uses writeBody for both.
 */
export function encodeBody(body: Uint8Array | string, opts: EncodeOptions = {}): EncodedBody {
  const b = toBuffer(body);
  const pieces = splitBody(b);
  const segments = new Map<string, BodySegment>();
  const ops = leafOps(b, pieces ?? [{ start: 0, end: b.length, kind: 'body', path: '' }], opts.minSegmentBytes ?? MIN_SEGMENT_BYTES, segments);
  const w = new ByteWriter();
  w.byte(SKELETON_MAGIC);
  w.byte(SKELETON_VERSION);
  w.varint(b.length);
  for (const o of ops.length >= RUN_MIN_OPS ? chunkRuns(ops, segments) : ops.map((o) => o.bytes)) w.bytes(o);
  return { skeleton: compressSegment(w.done(), opts.codec ?? DEFAULT_CODEC), segments: [...segments.values()], size: b.length, split: pieces !== null };
}

type SkeletonOp =
  | { op: 'lit'; bytes: Buffer }
  | { op: 'ref'; id: string }
  | { op: 'splice'; id: string; at: number; bytes: Buffer }
  | { op: 'run'; id: string };

/** Parses serialised ops from `s[i..]`; runs may not nest. */
function parseOps(s: Buffer, i: number, what: string, allowRuns: boolean): SkeletonOp[] {
  const bad = (why: string): never => {
    throw new StoreError(`${what} is corrupt: ${why} at byte ${i}`);
  };
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const c = s[i++];
      if (c === undefined) return bad('truncated varint');
      v += (c & 0x7f) * mul;
      if (c < 0x80) return v;
      mul *= 128;
    }
  };
  const take = (n: number): Buffer => {
    if (i + n > s.length) bad('truncated');
    return s.subarray(i, (i += n));
  };
  const ops: SkeletonOp[] = [];
  while (i < s.length) {
    const op = s[i++];
    if (op === Op.Lit) ops.push({ op: 'lit', bytes: take(varint()) });
    else if (op === Op.Ref) ops.push({ op: 'ref', id: take(ID_BYTES).toString('hex') });
    else if (op === Op.Splice) {
      const id = take(ID_BYTES).toString('hex');
      const at = varint();
      ops.push({ op: 'splice', id, at, bytes: take(varint()) });
    } else if (op === Op.Run && allowRuns) ops.push({ op: 'run', id: take(ID_BYTES).toString('hex') });
    else bad(`unknown op ${op}`);
  }
  return ops;
}

function parseSkeleton(stored: Uint8Array): { size: number; ops: SkeletonOp[] } {
  const s = decompressSegment(stored);
  if (s[0] !== SKELETON_MAGIC) throw new StoreError('body skeleton is corrupt: not a body skeleton');
  if (s[1] !== SKELETON_VERSION) throw new StoreError(`body skeleton has unsupported version ${s[1]}`);
  let i = 2;
  let size = 0;
  for (let mul = 1; ; mul *= 128) {
    const c = s[i++];
    if (c === undefined) throw new StoreError('body skeleton is corrupt: truncated header');
    size += (c & 0x7f) * mul;
    if (c < 0x80) break;
  }
  return { size, ops: parseOps(s, i, 'body skeleton', true) };
}

function runOps(id: string, bytes: Uint8Array): SkeletonOp[] {
  return parseOps(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, `run segment ${id}`, false);
}

/**
 * Distinct segment ids a stored skeleton references directly: leaf segments and runs (`runs`), whose raw bytes
 * (runSegmentRefs) name further leaves. readBody does both rounds; a custom reader fetches `ids`, then the leaves.
 */
export function skeletonRefs(skeleton: Uint8Array): { ids: string[]; runs: string[] } {
  const ids = new Set<string>();
  const runs = new Set<string>();
  for (const o of parseSkeleton(skeleton).ops) {
    if (o.op === 'lit') continue;
    ids.add(o.id);
    if (o.op === 'run') runs.add(o.id);
  }
  return { ids: [...ids], runs: [...runs] };
}

/** Leaf segment ids named by a run segment's raw bytes. */
export function runSegmentRefs(id: string, raw: Uint8Array): string[] {
  return [...new Set(runOps(id, raw).flatMap((o) => (o.op === 'lit' ? [] : [o.id])))];
}

export interface DecodeOptions {
  /** Re-hash every segment and compare with its id (default false: the store is trusted). */
  verify?: boolean;
}

/**
 * Reassembles a body from its stored skeleton. `getSegment` returns a segment's RAW bytes (decompressSegment of the
 * stored form) — runs and leaves alike — or undefined when missing (an error: E_STORE).
 */
export function decodeBody(skeleton: Uint8Array, getSegment: (id: string) => Uint8Array | undefined, opts: DecodeOptions = {}): Buffer {
  const { size, ops } = parseSkeleton(skeleton);
  const parts: Uint8Array[] = [];
  const get = (id: string): Uint8Array => {
    const seg = getSegment(id);
    if (!seg) throw new StoreError(`body segment ${id} is missing from the store`);
    if (opts.verify && segmentId(seg) !== id) throw new StoreError(`body segment ${id} does not match its hash`);
    return seg;
  };
  const emit = (o: SkeletonOp): void => {
    if (o.op === 'lit') parts.push(o.bytes);
    else if (o.op === 'run') for (const r of runOps(o.id, get(o.id))) emit(r);
    else {
      const seg = get(o.id);
      if (o.op === 'ref') parts.push(seg);
      else {
        if (o.at > seg.length) throw new StoreError(`body skeleton splices segment ${o.id} past its end`);
        parts.push(seg.subarray(0, o.at), o.bytes, seg.subarray(o.at));
      }
    }
  };
  for (const o of ops) emit(o);
  const out = Buffer.concat(parts);
  if (out.length !== size) throw new StoreError(`reassembled body is ${out.length} bytes, skeleton says ${size}`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Segment stores

/** A segment as stored: id + stored form (compressSegment). */
export interface StoredSegment {
  id: string;
  stored: Buffer;
  /** Length of the raw (uncompressed) segment; writeBody always sets it. */
  rawBytes?: number;
}

/**
 * Where segments live: a table `(id PRIMARY KEY, bytes)` in SQLite/Postgres, or memory in tests. Inserts are
 * insert-if-absent (ON CONFLICT DO NOTHING), so concurrent writers of the same segment are harmless.
 */
export interface SegmentStore {
  /** Those of `ids` not stored yet. */
  missing(ids: readonly string[]): Promise<string[]>;
  /** Inserts each segment unless its id exists; returns how many were inserted. */
  putIfAbsent(segments: readonly StoredSegment[]): Promise<number>;
  /** Stored forms of those of `ids` that exist. */
  getMany(ids: readonly string[]): Promise<Map<string, Buffer>>;
}

export class MemorySegmentStore implements SegmentStore {
  readonly segments = new Map<string, Buffer>();
  /** Sum of stored (compressed) segment bytes. */
  storedBytes = 0;
  async missing(ids: readonly string[]): Promise<string[]> {
    return ids.filter((id) => !this.segments.has(id));
  }
  async putIfAbsent(segments: readonly StoredSegment[]): Promise<number> {
    let n = 0;
    for (const s of segments) {
      if (this.segments.has(s.id)) continue;
      this.segments.set(s.id, s.stored);
      this.storedBytes += s.stored.length;
      n++;
    }
    return n;
  }
  async getMany(ids: readonly string[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    for (const id of ids) {
      const s = this.segments.get(id);
      if (s) out.set(id, s);
    }
    return out;
  }
}

export interface WrittenBody {
  /** Store this with the request row. */
  skeleton: Buffer;
  size: number;
  /** Segments this write inserted, and their stored bytes. */
  newSegments: number;
  newSegmentBytes: number;
  /** Every distinct segment id the body references (for analyzers keyed on segment ids). */
  segmentIds: string[];
}

/** The segments of an encoded body that the store lacks, compressed for storing (the others are never compressed). */
export function segmentsToStore(enc: EncodedBody, missing: ReadonlySet<string>, codec?: Codec): StoredSegment[] {
  return enc.segments.filter((s) => missing.has(s.id)).map((s) => ({ id: s.id, stored: compressSegment(s.bytes, codec), rawBytes: s.bytes.length }));
}

/** Encodes a body, compresses only the segments `store` lacks, inserts them, and returns the skeleton to keep. */
export async function writeBody(store: SegmentStore, body: Uint8Array | string, opts: EncodeOptions = {}): Promise<WrittenBody> {
  const enc = encodeBody(body, opts);
  const fresh = segmentsToStore(enc, new Set(await store.missing(enc.segments.map((s) => s.id))), opts.codec);
  const newSegments = fresh.length ? await store.putIfAbsent(fresh) : 0;
  return {
    skeleton: enc.skeleton,
    size: enc.size,
    newSegments,
    newSegmentBytes: fresh.reduce((a, s) => a + s.stored.length, 0),
    segmentIds: enc.segments.map((s) => s.id),
  };
}

/**
 * Raw (decompressed) segments kept across reads, least recently used dropped first once `maxBytes` is passed.
 * Readers that stream a conversation hit it for nearly every segment (tools, system, the shared history).
 */
export class SegmentCache {
  private readonly map = new Map<string, Buffer>();
  private bytes = 0;
  constructor(readonly maxBytes = 64 * 1024 * 1024) {}
  get(id: string): Buffer | undefined {
    const v = this.map.get(id);
    if (v) {
      this.map.delete(id);
      this.map.set(id, v);
    }
    return v;
  }
  set(id: string, raw: Buffer): void {
    if (this.map.has(id) || raw.length > this.maxBytes) return;
    this.map.set(id, raw);
    this.bytes += raw.length;
    for (const [k, v] of this.map) {
      if (this.bytes <= this.maxBytes) break;
      this.map.delete(k);
      this.bytes -= v.length;
    }
  }
  get size(): number {
    return this.map.size;
  }
}

export interface ReadOptions extends DecodeOptions {
  /** Reuse decompressed segments across reads (pass the same cache for every body of a scan). */
  cache?: SegmentCache;
}

/** Reads a body back from its skeleton: at most two getMany rounds (runs, then the leaves they name). */
export async function readBody(store: SegmentStore, skeleton: Uint8Array, opts: ReadOptions = {}): Promise<Buffer> {
  const have = new Map<string, Buffer>();
  const fetch = async (ids: readonly string[]): Promise<void> => {
    const want: string[] = [];
    for (const id of ids) {
      const hit = opts.cache?.get(id);
      if (hit) have.set(id, hit);
      else if (!have.has(id)) want.push(id);
    }
    if (!want.length) return;
    for (const [id, stored] of await store.getMany(want)) {
      const raw = decompressSegment(stored);
      have.set(id, raw);
      opts.cache?.set(id, raw);
    }
  };
  const { ids, runs } = skeletonRefs(skeleton);
  await fetch(ids);
  const leaves = runs.flatMap((id) => {
    const raw = have.get(id);
    return raw ? runSegmentRefs(id, raw) : []; // a missing run is reported by decodeBody
  });
  await fetch(leaves);
  return decodeBody(skeleton, (id) => have.get(id), opts);
}
