import { createHash } from 'node:crypto';
import xxhash from 'xxhash-wasm';
import { UsageError } from '../../shared/errors.js';

/** Hash algorithms a block chain can use (`--hash`). */
export type HashAlgorithm = 'xxh64' | 'sha256';
export const HASH_ALGORITHMS: readonly HashAlgorithm[] = ['xxh64', 'sha256'];

/**
 * Chain hash of one full block: H(parent, tokens). Equal hash ⇔ equal token prefix up to and including this block
 * (modulo collisions). Returned as a string so both algorithms share one key space.
 */
export interface ChainHasher {
  readonly algorithm: HashAlgorithm;
  /** `parent` is the previous block's hash ('' for the first block); `salt` is mixed into the root. */
  hashBlock(parent: string, tokens: ArrayLike<number>, start: number, end: number): string;
}

let scratch = new Uint32Array(1024);
/** Little-endian uint32 bytes of tokens[start, end) in a reused buffer (valid until the next call). */
function tokenBytes(tokens: ArrayLike<number>, start: number, end: number): Uint8Array {
  const n = end - start;
  if (scratch.length < n) scratch = new Uint32Array(n);
  for (let i = 0; i < n; i++) scratch[i] = tokens[start + i]! >>> 0;
  return new Uint8Array(scratch.buffer, 0, n * 4);
}

let xxApi: Awaited<ReturnType<typeof xxhash>> | null = null;

/** Creates a hasher (xxh64 needs a one-time async WASM init). `salt` makes hashes unlinkable across exports. */
export async function createChainHasher(algorithm: HashAlgorithm = 'xxh64', salt = ''): Promise<ChainHasher> {
  if (algorithm === 'xxh64') {
    xxApi ??= await xxhash();
    const api = xxApi;
    const rootSeed = salt ? api.h64(salt) : 0n;
    // Chains are hashed block after block: remember the last result so the parent's seed is not re-parsed.
    let lastHex = '';
    let lastBig = 0n;
    return {
      algorithm,
      hashBlock(parent, tokens, start, end) {
        const seed = parent === '' ? rootSeed : parent === lastHex ? lastBig : BigInt('0x' + parent);
        lastBig = api.h64Raw(tokenBytes(tokens, start, end), seed);
        lastHex = lastBig.toString(16).padStart(16, '0');
        return lastHex;
      },
    };
  }
  if (algorithm === 'sha256') {
    return {
      algorithm,
      hashBlock(parent, tokens, start, end) {
        const h = createHash('sha256');
        h.update(parent === '' ? 'root:' + salt : parent);
        h.update(tokenBytes(tokens, start, end));
        return h.digest('hex');
      },
    };
  }
  throw new UsageError(`unknown hash "${String(algorithm)}" (known: ${HASH_ALGORITHMS.join(', ')})`);
}

/** Maps hash strings to sequential ids in first-seen order (1-based, like kv-cache-tester traces). */
export class HashIdAllocator {
  private readonly ids = new Map<string, number>();
  get size(): number {
    return this.ids.size;
  }
  idOf(hash: string): number {
    let id = this.ids.get(hash);
    if (id === undefined) {
      id = this.ids.size + 1;
      this.ids.set(hash, id);
    }
    return id;
  }
}
