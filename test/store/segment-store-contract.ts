/**
 * The shared contract every SegmentStore (src/store/body-codec.ts) passes: the in-memory one here, the SQLite and
 * Postgres ones in the store. Call it inside a test file with a factory that returns a fresh, empty store.
 */
import { describe, expect, it } from 'vitest';
import { compressSegment, encodeBody, readBody, segmentId, writeBody, type SegmentStore } from '../../src/store/body-codec.js';

export function segmentStoreContract(name: string, fresh: () => Promise<SegmentStore> | SegmentStore): void {
  const seg = (text: string) => {
    const raw = Buffer.from(text);
    return { id: segmentId(raw), stored: compressSegment(raw), rawBytes: raw.length };
  };

  describe(`SegmentStore contract: ${name}`, () => {
    it('empty id lists are fine everywhere', async () => {
      const s = await fresh();
      expect(await s.missing([])).toEqual([]);
      expect(await s.putIfAbsent([])).toBe(0);
      expect((await s.getMany([])).size).toBe(0);
    });

    it('insert-if-absent: the first bytes stay, a second insert of the same id counts 0', async () => {
      const s = await fresh();
      const a = seg('segment a '.repeat(20));
      const b = seg('segment b '.repeat(20));
      expect(await s.missing([a.id, b.id])).toEqual([a.id, b.id]);
      expect(await s.putIfAbsent([a])).toBe(1);
      expect(await s.missing([b.id, a.id])).toEqual([b.id]);
      expect(await s.putIfAbsent([a, b])).toBe(1);
      expect(await s.putIfAbsent([{ id: a.id, stored: Buffer.from([0, 0x78]) }])).toBe(0);
      const got = await s.getMany([a.id, b.id, segmentId(Buffer.from('absent'))]);
      expect([...got.keys()].sort()).toEqual([a.id, b.id].sort());
      expect(Buffer.compare(got.get(a.id)!, a.stored)).toBe(0);
      expect(Buffer.compare(got.get(b.id)!, b.stored)).toBe(0);
    });

    it('thousands of ids in one call', async () => {
      const s = await fresh();
      const many = Array.from({ length: 3000 }, (_, i) => seg(`segment number ${i} `.repeat(4)));
      expect(await s.putIfAbsent(many.slice(0, 1500))).toBe(1500);
      expect(await s.missing(many.map((m) => m.id))).toEqual(many.slice(1500).map((m) => m.id));
      expect(await s.putIfAbsent(many)).toBe(1500);
      expect((await s.getMany(many.map((m) => m.id))).size).toBe(3000);
    });

    it('concurrent writers of overlapping bodies: every body reads back exact, each segment stored once', async () => {
      const s = await fresh();
      const tools = Array.from({ length: 20 }, (_, i) => ({ name: `Tool${i}`, description: `does thing ${i} `.repeat(30) }));
      const bodies = Array.from({ length: 12 }, (_, k) =>
        JSON.stringify({
          model: 'm',
          messages: Array.from({ length: k + 1 }, (_, j) => ({ role: j % 2 ? 'assistant' : 'user', content: [{ type: 'text', text: `turn ${j} `.repeat(20) }] })),
          tools,
        }),
      );
      const written = await Promise.all([...bodies, ...bodies].map((b) => writeBody(s, b)));
      const distinct = new Set(bodies.flatMap((b) => encodeBody(b).segments.map((x) => x.id)));
      expect(written.reduce((a, w) => a + w.newSegments, 0)).toBe(distinct.size);
      expect(await s.missing([...distinct])).toEqual([]);
      for (let i = 0; i < written.length; i++) expect((await readBody(s, written[i]!.skeleton, { verify: true })).toString()).toBe(bodies[i % bodies.length]);
    });
  });
}
