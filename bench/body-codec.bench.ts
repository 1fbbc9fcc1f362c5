/**
 * Compact bodies (issue 13, item 3): a SYNTHETIC 1,000-request Claude Code session with growing context
 * (bench/growing-session.ts: real CLI tools/system/metadata from ../shared, generated conversation content) written
 * side by side into two SQLite files — raw bodies (one TEXT column, as claude-code-proxy stores them) and compact
 * bodies (skeleton per request + content-addressed, compressed segments, insert-if-absent) — then compared by file
 * size after VACUUM. Every body is read back from the compact file and checked byte-exact (SHA-256 against the
 * original). Also: encode/decode throughput, per-request encode latency, the codec choice (deflate vs brotli levels
 * on the session's distinct segments) and the real captured bodies of examples/requests.db.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, brotliDecompressSync, constants as zc, deflateRawSync, inflateRawSync } from 'node:zlib';
import Database from 'better-sqlite3';
import type { BenchModule } from './bench.js';
import { growingSession } from './growing-session.js';
import { distribution } from '../src/analyze/percentiles.js';
import { decodeBody, decompressSegment, encodeBody, readBody, SegmentCache, writeBody, type SegmentStore, type StoredSegment } from '../src/store/body-codec.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = join(ROOT, '..', 'shared', 'fixtures');

/** The bench's two-table compact layout, the same columns as the store's `body_segments` (src/store/schema.ts). */
class SqliteSegmentStore implements SegmentStore {
  private readonly has;
  private readonly ins;
  private readonly get;
  constructor(readonly db: Database.Database) {
    db.exec('CREATE TABLE IF NOT EXISTS body_segments (id TEXT PRIMARY KEY, raw_bytes INTEGER NOT NULL, data BLOB NOT NULL)');
    this.has = db.prepare('SELECT 1 FROM body_segments WHERE id = ?').pluck();
    this.ins = db.prepare('INSERT OR IGNORE INTO body_segments (id, raw_bytes, data) VALUES (?, ?, ?)');
    this.get = db.prepare('SELECT data FROM body_segments WHERE id = ?').pluck();
  }
  async missing(ids: readonly string[]): Promise<string[]> {
    return ids.filter((id) => this.has.get(id) === undefined);
  }
  async putIfAbsent(segments: readonly StoredSegment[]): Promise<number> {
    let n = 0;
    for (const s of segments) n += this.ins.run(s.id, s.rawBytes ?? decompressSegment(s.stored).length, s.stored).changes;
    return n;
  }
  async getMany(ids: readonly string[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    for (const id of ids) {
      const b = this.get.get(id) as Buffer | undefined;
      if (b) out.set(id, b);
    }
    return out;
  }
}

function fileBytes(db: Database.Database, path: string): number {
  db.exec('VACUUM');
  db.close();
  return statSync(path).size;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const mb = (bytes: number, ms: number) => +(bytes / 1e6 / (ms / 1000)).toFixed(1);
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

const bits = (b: Buffer) => Math.ceil(Math.log2(b.length + 1));

/** Stored size and CPU of each candidate codec over the same distinct segments (window sized as in the codec). */
function compareCodecs(segments: Buffer[]): { lines: string[]; metrics: Record<string, number> } {
  const raw = segments.reduce((a, s) => a + s.length, 0);
  const candidates: Array<[string, (b: Buffer) => Buffer, (b: Buffer) => Buffer]> = [
    ...[6, 9].map((level): [string, (b: Buffer) => Buffer, (b: Buffer) => Buffer] => [
      `deflate-${level}`,
      (b) => deflateRawSync(b, { level, windowBits: Math.max(9, Math.min(15, bits(b))) }),
      (b) => inflateRawSync(b),
    ]),
    ...[4, 5, 6, 9].map((q): [string, (b: Buffer) => Buffer, (b: Buffer) => Buffer] => [
      `brotli-${q}`,
      (b) =>
        brotliCompressSync(b, {
          params: { [zc.BROTLI_PARAM_QUALITY]: q, [zc.BROTLI_PARAM_MODE]: zc.BROTLI_MODE_TEXT, [zc.BROTLI_PARAM_SIZE_HINT]: b.length, [zc.BROTLI_PARAM_LGWIN]: Math.max(10, Math.min(24, bits(b))) },
        }),
      (b) => brotliDecompressSync(b),
    ]),
  ];
  const lines = [`codecs on the session's ${segments.length.toLocaleString()} distinct segments (${(raw / 1e6).toFixed(1)} MB raw), per segment:`];
  const metrics: Record<string, number> = {};
  for (const [name, comp, decomp] of candidates) {
    // CPU time, not wall time: on a shared machine the per-call cost is what the codec choice is about
    const c0 = process.cpuUsage();
    const out = segments.map((s) => comp(s));
    const c1 = process.cpuUsage(c0);
    for (const o of out) decomp(o);
    const c2 = process.cpuUsage(c0);
    const ct = (c1.user + c1.system) / 1000;
    const dt = (c2.user + c2.system) / 1000 - ct;
    const stored = out.reduce((a, o, i) => a + Math.min(o.length, segments[i]!.length) + 1, 0);
    const key = name.replace('-', '_q');
    metrics[`codec_${key}_ratio`] = +(raw / stored).toFixed(2);
    metrics[`codec_${key}_compress_mb_per_cpu_s`] = mb(raw, ct);
    metrics[`codec_${key}_decompress_mb_per_cpu_s`] = mb(raw, dt);
    lines.push(`  ${name.padEnd(10)} ${(raw / stored).toFixed(2)}× smaller, compress ${mb(raw, ct)} MB/CPU-s (${((ct * 1000) / segments.length).toFixed(0)} µs/segment), decompress ${mb(raw, dt)} MB/CPU-s`);
  }
  return { lines, metrics };
}

/** Real captured traffic: every body of examples/requests.db through a fresh in-file compact store. */
async function examplesLine(root: string): Promise<{ line: string; ratio: number }> {
  const src = new Database(join(root, 'examples', 'requests.db'), { readonly: true, fileMustExist: true });
  const rows = src.prepare('SELECT body FROM requests ORDER BY rowid').all() as Array<{ body: string }>;
  src.close();
  const db = new Database(':memory:');
  const store = new SqliteSegmentStore(db);
  let raw = 0;
  let compact = 0;
  for (const r of rows) {
    const b = Buffer.from(r.body, 'utf8');
    raw += b.length;
    const w = await writeBody(store, b);
    compact += w.skeleton.length + w.newSegmentBytes;
    if (!(await readBody(store, w.skeleton)).equals(b)) throw new Error('examples/requests.db body did not round-trip');
  }
  db.close();
  return { line: `examples/requests.db (real capture, ${rows.length} requests): ${kb(raw / rows.length)} raw → ${kb(compact / rows.length)} compact per request (${(raw / compact).toFixed(1)}×, payload bytes)`, ratio: raw / compact };
}

const bench: BenchModule = {
  name: 'body-codec',
  description: 'compact bodies: bytes per request on disk (raw vs content-addressed segments), encode/decode MB/s, round-trip of every body (SYNTHETIC 1,000-request session from the real CLI bodies in ../shared)',
  async run() {
    if (!existsSync(join(FIXTURES, 'claude-code'))) throw new Error(`needs the real CLI bodies in ${FIXTURES}/claude-code (../shared is absent)`);
    const dir = mkdtempSync(join(tmpdir(), 'trace-bench-codec-'));
    const lines: string[] = [];
    const metrics: Record<string, number | string | null> = { source: 'synthetic session from ../shared/fixtures/claude-code (real tools/system, generated content)' };
    try {
      const rawPath = join(dir, 'raw.db');
      const compactPath = join(dir, 'compact.db');
      const rawDb = new Database(rawPath);
      rawDb.exec('CREATE TABLE requests (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
      const compactDb = new Database(compactPath);
      compactDb.exec('CREATE TABLE requests (id INTEGER PRIMARY KEY, body_skeleton BLOB NOT NULL)');
      const store = new SqliteSegmentStore(compactDb);
      const insRaw = rawDb.prepare('INSERT INTO requests (id, body) VALUES (?, ?)');
      const insBody = compactDb.prepare('INSERT INTO requests (id, body_skeleton) VALUES (?, ?)');

      const digests: string[] = [];
      const encodeMs: number[] = [];
      const distinct = new Map<string, Buffer>();
      let rawBytes = 0;
      let dedupBytes = 0; // uncompressed new segments + uncompressed skeleton: the dedup alone
      let encodeOnlyMs = 0;
      let encodeCpuMs = 0;
      let writeMs = 0;
      let splitFailures = 0;
      let i = 0;
      rawDb.exec('BEGIN');
      compactDb.exec('BEGIN');
      for (const body of growingSession(FIXTURES)) {
        i++;
        rawBytes += body.length;
        digests.push(sha(body));
        insRaw.run(i, body.toString('utf8'));
        const c0 = process.cpuUsage();
        let t = performance.now();
        const enc = encodeBody(body);
        encodeOnlyMs += performance.now() - t;
        const c1 = process.cpuUsage(c0);
        encodeCpuMs += (c1.user + c1.system) / 1000;
        if (!enc.split) splitFailures++;
        for (const s of enc.segments) if (!distinct.has(s.id)) { distinct.set(s.id, Buffer.from(s.bytes)); dedupBytes += s.bytes.length; }
        dedupBytes += decompressSegment(enc.skeleton).length;
        t = performance.now();
        const w = await writeBody(store, body); // encode + compress the new segments + insert-if-absent
        insBody.run(i, w.skeleton);
        const ms = performance.now() - t;
        writeMs += ms;
        encodeMs.push(ms);
        if (i % 100 === 0) {
          rawDb.exec('COMMIT; BEGIN');
          compactDb.exec('COMMIT; BEGIN');
        }
      }
      rawDb.exec('COMMIT');
      compactDb.exec('COMMIT');
      const n = i;

      // Read every body back from the compact file and check it against the original's digest.
      const getSkeleton = compactDb.prepare('SELECT body_skeleton FROM requests WHERE id = ?').pluck();
      let readMs = 0;
      let readCachedMs = 0;
      const cache = new SegmentCache(64 * 1024 * 1024);
      let decodeOnlyMs = 0;
      let mismatches = 0;
      for (let k = 1; k <= n; k++) {
        const sk = getSkeleton.get(k) as Buffer;
        let t = performance.now();
        const back = await readBody(store, sk);
        readMs += performance.now() - t;
        if (sha(back) !== digests[k - 1]) mismatches++;
        // a reader streaming the session keeps decompressed segments in a SegmentCache
        t = performance.now();
        const cached = await readBody(store, sk, { cache });
        readCachedMs += performance.now() - t;
        if (!cached.equals(back)) mismatches++;
        // reassembly alone, segments already decompressed (what a reader with a segment cache pays)
        t = performance.now();
        decodeBody(sk, (id) => distinct.get(id));
        decodeOnlyMs += performance.now() - t;
      }
      if (mismatches) throw new Error(`${mismatches} bodies did not round-trip byte-exact`);

      const segCount = compactDb.prepare('SELECT count(*) FROM body_segments').pluck().get() as number;
      const segStored = compactDb.prepare('SELECT sum(length(data)) FROM body_segments').pluck().get() as number;
      const skelStored = compactDb.prepare('SELECT sum(length(body_skeleton)) FROM requests').pluck().get() as number;
      const rawFile = fileBytes(rawDb, rawPath);
      const compactFile = fileBytes(compactDb, compactPath);
      const lat = distribution(encodeMs);

      metrics.requests = n;
      metrics.raw_body_bytes_per_request = Math.round(rawBytes / n);
      metrics.raw_file_bytes_per_request = Math.round(rawFile / n);
      metrics.compact_file_bytes_per_request = Math.round(compactFile / n);
      metrics.compact_payload_bytes_per_request = Math.round((segStored + skelStored) / n);
      metrics.skeleton_bytes_per_request = Math.round(skelStored / n);
      metrics.segment_bytes_per_request = Math.round(segStored / n);
      metrics.segments = segCount;
      metrics.disk_ratio = +(compactFile / rawFile).toFixed(4);
      metrics.disk_ratio_vs_raw_bodies = +(compactFile / rawBytes).toFixed(4);
      metrics.dedup_only_ratio = +(dedupBytes / rawBytes).toFixed(4);
      metrics.meets_one_tenth = compactFile / rawFile <= 0.1 ? 'yes' : 'no';
      metrics.encode_mb_s = mb(rawBytes, encodeOnlyMs);
      metrics.encode_mb_per_cpu_s = mb(rawBytes, encodeCpuMs);
      metrics.write_mb_s = mb(rawBytes, writeMs);
      metrics.read_mb_s = mb(rawBytes, readMs);
      metrics.read_cached_mb_s = mb(rawBytes, readCachedMs);
      metrics.decode_mb_s = mb(rawBytes, decodeOnlyMs);
      metrics.write_ms_p50 = lat.p50 === null ? null : +lat.p50.toFixed(2);
      metrics.write_ms_p99 = lat.p99 === null ? null : +lat.p99.toFixed(2);
      metrics.roundtrip_ok = n - mismatches;
      metrics.unsplit_bodies = splitFailures;

      lines.push(`SYNTHETIC session: ${n} requests (real CLI tools/system from ../shared, generated content), raw bodies ${kb(rawBytes / n)} per request`);
      lines.push(`on disk (SQLite, after VACUUM): raw ${kb(rawFile / n)} per request vs compact ${kb(compactFile / n)} per request → ${(compactFile / rawFile).toFixed(4)} (1/${(rawFile / compactFile).toFixed(1)}) ${compactFile / rawFile <= 0.1 ? '≤' : '>'} 1/10`);
      lines.push(`compact payload per request: skeleton ${kb(skelStored / n)} + new segments ${kb(segStored / n)} (${segCount.toLocaleString()} distinct segments); dedup alone, uncompressed: ${(dedupBytes / rawBytes).toFixed(4)} of raw`);
      lines.push(`encode (split + hash) ${metrics.encode_mb_s} MB/s (${metrics.encode_mb_per_cpu_s} MB per CPU second); write (encode + compress new segments + insert) ${metrics.write_mb_s} MB/s, p50 ${metrics.write_ms_p50} ms, p99 ${metrics.write_ms_p99} ms per request`);
      lines.push(`read (fetch + decompress + reassemble) ${metrics.read_mb_s} MB/s cold, ${metrics.read_cached_mb_s} MB/s with a 64 MB SegmentCache; reassemble from decompressed segments ${metrics.decode_mb_s} MB/s`);
      lines.push(`round-trip: ${n - mismatches}/${n} bodies byte-exact (SHA-256), ${splitFailures} stored unsplit`);

      const codecs = compareCodecs([...distinct.values()]);
      lines.push(...codecs.lines);
      Object.assign(metrics, codecs.metrics);
      const ex = await examplesLine(ROOT);
      lines.push(ex.line);
      metrics.examples_requests_db_ratio = +(1 / ex.ratio).toFixed(4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return { metrics, lines };
  },
};

export default bench;
