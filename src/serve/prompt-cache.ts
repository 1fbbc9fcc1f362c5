/**
 * The KV prompt cache shared by every engine (the bookkeeping; the KV tensors live in the engine: llama.cpp
 * context sequences, MLX prompt-cache objects). A token-sequence trie maps cached token sequences to entry ids
 * (a llama slot, an MLX cache object); `lookup` finds the entry with the longest common prefix with a prompt;
 * `put` records what an entry now holds and evicts least-recently-used entries until the bytes
 * (kvBytesPerToken × tokens held, summed over entries: each entry holds its own KV copy) fit the capacity.
 * capacityBytes 0 disables reuse: lookup finds nothing, put stores nothing.
 */
import type { CacheStats } from './engine.js';

interface TrieNode {
  children: Map<number, TrieNode>;
  /** Entries whose token sequence passes through (or ends at) this node. */
  ids: Set<string>;
}

interface Entry {
  tokens: number[];
  lastUsed: number;
}

export interface CacheMatch {
  id: string;
  /** Length of the common prefix between the prompt and the entry's tokens. */
  length: number;
}

export interface PromptCacheOptions {
  capacityBytes: number;
  kvBytesPerToken: number;
}

export class PromptCache {
  readonly capacityBytes: number;
  readonly kvBytesPerToken: number;
  private readonly root: TrieNode = { children: new Map(), ids: new Set() };
  private readonly entries = new Map<string, Entry>();
  private tick = 0;
  private counters = { hits: 0, misses: 0, cachedTokens: 0, evaluatedTokens: 0, evictions: 0 };

  constructor(o: PromptCacheOptions) {
    if (!(o.capacityBytes >= 0)) throw new RangeError('capacityBytes must be ≥ 0');
    if (!(o.kvBytesPerToken > 0)) throw new RangeError('kvBytesPerToken must be > 0');
    this.capacityBytes = o.capacityBytes;
    this.kvBytesPerToken = o.kvBytesPerToken;
  }

  get enabled(): boolean {
    return this.capacityBytes > 0;
  }

  /** Longest common prefix among entries accepted by `usable` (default: all); ties → most recently used. */
  lookup(tokens: readonly number[], usable: (id: string) => boolean = () => true): CacheMatch | null {
    if (!this.enabled) return null;
    let node = this.root;
    let best: CacheMatch | null = null;
    for (let depth = 0; depth < tokens.length; depth++) {
      const next = node.children.get(tokens[depth]!);
      if (!next) break;
      const id = this.mostRecent(next.ids, usable);
      if (id === undefined) break;
      best = { id, length: depth + 1 };
      node = next;
    }
    return best;
  }

  /** Tokens an entry holds (a copy), or undefined. */
  tokensOf(id: string): number[] | undefined {
    const e = this.entries.get(id);
    return e ? [...e.tokens] : undefined;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  /**
   * Records that entry `id` now holds `tokens` (marks it most recently used) and evicts LRU entries accepted by
   * `evictable` until the cache fits; if the entry alone is larger than the capacity it is evicted too.
   * Returns the evicted ids (the engine frees their KV state). With the cache disabled returns [id].
   */
  put(id: string, tokens: readonly number[], evictable: (id: string) => boolean = () => true): string[] {
    this.remove(id);
    if (!this.enabled) return [id];
    const entry: Entry = { tokens: [...tokens], lastUsed: ++this.tick };
    this.entries.set(id, entry);
    let node = this.root;
    for (const t of entry.tokens) {
      let next = node.children.get(t);
      if (!next) node.children.set(t, (next = { children: new Map(), ids: new Set() }));
      next.ids.add(id);
      node = next;
    }
    const evicted: string[] = [];
    while (this.bytes() > this.capacityBytes) {
      let victim: string | undefined;
      let oldest = Infinity;
      for (const [eid, e] of this.entries) {
        if (eid !== id && e.lastUsed < oldest && evictable(eid)) {
          oldest = e.lastUsed;
          victim = eid;
        }
      }
      victim ??= id;
      this.remove(victim);
      this.counters.evictions++;
      evicted.push(victim);
      if (victim === id) break;
    }
    return evicted;
  }

  /** Among `ids`, one not cached at all, else the least recently used (where to put an unrelated prompt). */
  coldest(ids: readonly string[]): string | undefined {
    let best: string | undefined;
    let when = Infinity;
    for (const id of ids) {
      const e = this.entries.get(id);
      if (!e) return id;
      if (e.lastUsed < when) {
        when = e.lastUsed;
        best = id;
      }
    }
    return best;
  }

  /** Marks an entry as used now (LRU). */
  touch(id: string): void {
    const e = this.entries.get(id);
    if (e) e.lastUsed = ++this.tick;
  }

  /** Forgets an entry (its KV state was dropped by the engine). */
  remove(id: string): void {
    const e = this.entries.get(id);
    if (!e) return;
    this.entries.delete(id);
    let node = this.root;
    for (const t of e.tokens) {
      const next = node.children.get(t);
      if (!next) break;
      next.ids.delete(id);
      if (next.ids.size === 0) {
        node.children.delete(t);
        break;
      }
      node = next;
    }
  }

  /** Records one request's prefill outcome (hit = at least one prompt token reused). */
  record(promptTokens: number, cachedTokens: number): void {
    if (cachedTokens > 0) this.counters.hits++;
    else this.counters.misses++;
    this.counters.cachedTokens += cachedTokens;
    this.counters.evaluatedTokens += promptTokens - cachedTokens;
  }

  bytes(): number {
    let tokens = 0;
    for (const e of this.entries.values()) tokens += e.tokens.length;
    return tokens * this.kvBytesPerToken;
  }

  stats(): CacheStats {
    return Object.freeze({ ...this.counters, bytes: this.bytes(), capacityBytes: this.capacityBytes, entries: this.entries.size });
  }

  private mostRecent(ids: Set<string>, usable: (id: string) => boolean): string | undefined {
    let best: string | undefined;
    let when = -1;
    for (const id of ids) {
      const e = this.entries.get(id)!;
      if (e.lastUsed > when && usable(id)) {
        when = e.lastUsed;
        best = id;
      }
    }
    return best;
  }
}
