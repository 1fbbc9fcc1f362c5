/**
 * Hash-id namespaces across the files of a corpus. kv-cache-tester / Weka / Mooncake files number their blocks
 * independently (each session from 1, as AIPerf's loader enforces): the same id in two files is a different
 * block. Every file (or, with `hash_id_scope: "per_context"`, every agent of a file) gets its own range of ids, so
 * two namespaces never share a block while ids inside one keep their equalities.
 *
 * Small ids (the norm: sequential from 1) are shifted by an offset past the previous namespace (the first keeps
 * its ids unchanged); large ids (hash values) are renumbered densely in first-seen order.
 */
const DENSE_ABOVE = 2 ** 26;

export class IdMap {
  private readonly offset: number;
  private readonly dense: Map<number, number> | null;
  constructor(
    private readonly owner: HashNamespace,
    maxId: number,
  ) {
    const small = Number.isSafeInteger(maxId) && maxId >= 0 && maxId < DENSE_ABOVE;
    this.offset = small ? owner.reserve(maxId + 1) : -1;
    this.dense = small ? null : new Map();
  }
  map(ids: readonly number[]): number[] {
    if (this.offset === 0) return ids as number[];
    const out = new Array<number>(ids.length);
    if (this.dense === null) {
      for (let i = 0; i < ids.length; i++) out[i] = ids[i]! + this.offset;
      return out;
    }
    for (let i = 0; i < ids.length; i++) {
      let v = this.dense.get(ids[i]!);
      if (v === undefined) this.dense.set(ids[i]!, (v = this.owner.reserve(1)));
      out[i] = v;
    }
    return out;
  }
}

/** The largest id among `lists` (negative or non-integer ids force dense renumbering). */
export function maxHashId(lists: Iterable<readonly number[] | undefined>): number {
  let max = 0;
  for (const l of lists) {
    if (!Array.isArray(l)) continue;
    for (const id of l) {
      if (!Number.isSafeInteger(id) || id < 0) return Infinity;
      if (id > max) max = id;
    }
  }
  return max;
}

export class HashNamespace {
  private next = 0;
  private count = 0;
  /** Reserves `n` consecutive ids and returns the first. */
  reserve(n: number): number {
    const v = this.next;
    this.next += n;
    return v;
  }
  /** A new namespace (a file, or one context of a file) whose ids are at most `maxId`. */
  open(maxId: number): IdMap {
    this.count++;
    return new IdMap(this, maxId);
  }
  get namespaces(): number {
    return this.count;
  }
}
