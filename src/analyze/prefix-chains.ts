/**
 * The message-prefix hashes of every request of an analysis, kept once per distinct prefix instead of once per
 * request. A request with n messages has n prefix hashes (h_1 … h_n, each the hash of h_{k-1} and message k); the
 * conversation index asks for them from the longest down. Conversations are append-only, so request i+1 repeats
 * request i's hashes: stored per request they cost 8 bytes × messages × requests (a 300-message Claude Code
 * conversation: 2.4 KB for every one of its requests). Here each prefix is one slot of an open-addressing table
 * (hash → the hash one message shorter), and a request keeps only its full-prefix hash: memory grows with the
 * distinct messages of the traffic, not with requests × messages.
 *
 * Hashes are non-negative integers below 2^53 (see extractFacts); NO_PREFIX (-1) is the parent of a first message.
 */
export const NO_PREFIX = -1;

const EMPTY = -1;
const MIN_CAPACITY = 1024;

export class PrefixChains {
  private keys = new Float64Array(MIN_CAPACITY).fill(EMPTY);
  private parents = new Float64Array(MIN_CAPACITY);
  private mask = MIN_CAPACITY - 1;
  private count = 0;

  /** Distinct prefixes held. */
  get size(): number {
    return this.count;
  }

  /** Records that prefix `hash` extends prefix `parent` (NO_PREFIX for a first message); false if it was known. */
  add(hash: number, parent: number): boolean {
    let i = this.slot(hash);
    const keys = this.keys;
    while (keys[i] !== EMPTY) {
      if (keys[i] === hash) return false;
      i = (i + 1) & this.mask;
    }
    keys[i] = hash;
    this.parents[i] = parent;
    if (++this.count * 2 > keys.length) this.grow();
    return true;
  }

  /**
   * Adds a request's whole chain (`hashes[0..n)`, each extending the one before) from the longest prefix down,
   * stopping at the first one already known: its ancestors are known too (every chain is added down to a known
   * prefix or its first message), so an append-only conversation costs a probe or two per request, not one per
   * message.
   */
  addChain(hashes: Float64Array, n: number): void {
    for (let k = n - 1; k >= 0; k--) if (!this.add(hashes[k]!, k > 0 ? hashes[k - 1]! : NO_PREFIX)) return;
  }

  /** The prefix one message shorter than `hash` (NO_PREFIX for a first message); throws for an unknown prefix. */
  parent(hash: number): number {
    let i = this.slot(hash);
    const keys = this.keys;
    while (keys[i] !== EMPTY) {
      if (keys[i] === hash) return this.parents[i]!;
      i = (i + 1) & this.mask;
    }
    throw new Error(`prefix ${hash} was never added`);
  }

  private slot(hash: number): number {
    const lo = hash % 4294967296;
    const hi = (hash - lo) / 4294967296;
    // murmur3's fmix32 over both halves: every bit of the hash reaches the slot bits.
    let x = (lo ^ Math.imul(hi, 0x9e3779b1)) | 0;
    x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
    return ((x ^ (x >>> 16)) >>> 0) & this.mask;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldParents = this.parents;
    this.keys = new Float64Array(oldKeys.length * 2).fill(EMPTY);
    this.parents = new Float64Array(oldKeys.length * 2);
    this.mask = this.keys.length - 1;
    this.count = 0;
    for (let j = 0; j < oldKeys.length; j++) if (oldKeys[j] !== EMPTY) this.add(oldKeys[j]!, oldParents[j]!);
  }
}
