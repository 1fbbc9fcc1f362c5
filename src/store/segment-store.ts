import type { Kysely } from 'kysely';
import { decompressSegment, type SegmentStore, type StoredSegment } from './body-codec.js';
import type { DatabaseSchema } from './db-types.js';

/** Ids per statement (SQLite binds at most 32766 values; Postgres 65535). */
const CHUNK = 500;

/**
 * The body codec's SegmentStore over the store's `body_segments` table, through kysely: one implementation for
 * SQLite and Postgres. Inserts are ON CONFLICT DO NOTHING, so proxies writing the same segment at once are
 * harmless (the first bytes stay; the content hash makes them identical anyway).
 */
export class KyselySegmentStore implements SegmentStore {
  constructor(private readonly db: Kysely<DatabaseSchema>) {}

  async missing(ids: readonly string[]): Promise<string[]> {
    const have = new Set<string>();
    for (let i = 0; i < ids.length; i += CHUNK) {
      const rows = await this.db.selectFrom('body_segments').select('id').where('id', 'in', ids.slice(i, i + CHUNK)).execute();
      for (const r of rows) have.add(r.id);
    }
    return ids.filter((id) => !have.has(id));
  }

  async putIfAbsent(segments: readonly StoredSegment[]): Promise<number> {
    let inserted = 0;
    for (let i = 0; i < segments.length; i += CHUNK) {
      const values = segments.slice(i, i + CHUNK).map((s) => ({ id: s.id, raw_bytes: decompressSegment(s.stored).length, data: s.stored }));
      // Duplicate ids inside one statement would make Postgres reject it: keep the first of each.
      const seen = new Set<string>();
      const unique = values.filter((v) => !seen.has(v.id) && seen.add(v.id));
      const r = await this.db.insertInto('body_segments').values(unique).onConflict((oc) => oc.column('id').doNothing()).executeTakeFirst();
      inserted += Number(r.numInsertedOrUpdatedRows ?? 0n);
    }
    return inserted;
  }

  async getMany(ids: readonly string[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    for (let i = 0; i < ids.length; i += CHUNK) {
      const rows = await this.db.selectFrom('body_segments').select(['id', 'data']).where('id', 'in', ids.slice(i, i + CHUNK)).execute();
      for (const r of rows) out.set(r.id, Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength));
    }
    return out;
  }
}
