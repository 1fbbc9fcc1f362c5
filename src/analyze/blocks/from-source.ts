import { InputError } from '../../shared/errors.js';
import { prefixIn } from '../cache/policy.js';
import type { BlockRequest } from '../../shared/trace-record.js';
import type { OpenedSource } from '../../store/sources/source.js';
import { iterateRequests } from '../../store/sources/index.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { BlockModelBuilder, defaultLink, DEFAULT_BLOCK_SIZE, type ModeledBlockRequest, type RequestLink } from './block-model.js';
import { createChainHasher, type HashAlgorithm } from './chain-hash.js';
import type { TraceRequest } from '../../shared/trace-record.js';
import { FactsCollector, collectFacts } from '../analyze-requests.js';
import type { RequestFacts } from '../request-facts.js';
import { buildConversationIndex } from '../conversation-index.js';

/**
 * Linkage from the conversation index (hints, structural prefix linking, Agent/Task spawns): conversation,
 * agent and parent agent of every request id. Falls back to the block model's default for unknown ids.
 */
export function indexLinks(requests: Iterable<TraceRequest>): (r: TraceRequest) => RequestLink {
  return linksOf(collectFacts(requests).facts);
}

function linksOf(facts: RequestFacts[]): (r: TraceRequest) => RequestLink {
  const index = buildConversationIndex(facts);
  const byId = new Map<string, RequestLink>();
  for (const q of index.requests) byId.set(q.id, { conversationId: q.conversationId, agentId: q.agentId, parentAgentId: q.parentAgentId });
  return (r) => byId.get(r.id) ?? defaultLink(r);
}

export interface BlockSourceOptions {
  tokenizer: Tokenizer;
  hash?: HashAlgorithm;
  /** Block size for content sources (block sources keep theirs). */
  blockSize?: number;
  /** Linkage; default: the conversation index (src/analyze/conversation-index.ts). */
  linkOf?: (r: TraceRequest) => RequestLink;
  /** Mixed into the chain-hash root (anonymised exports). */
  salt?: string;
}

export interface BlockSource {
  kind: string;
  level: 'content' | 'block';
  blockSize: number;
  requests: ModeledBlockRequest[];
  uniqueBlocks: number;
}

/** Block requests of any opened source: block-level sources as-is, content sources through the block model. */
export async function blockRequestsOf(src: OpenedSource, opts: BlockSourceOptions): Promise<BlockSource> {
  if (src.level === 'block') {
    if (!src.blocks) throw new InputError(`${src.path}: block-level source without blocks()`);
    const reqs = [...src.blocks()] as ModeledBlockRequest[];
    if (opts.blockSize && src.blockSize && opts.blockSize !== src.blockSize) {
      throw new InputError(`${src.path} was hashed with block size ${src.blockSize}; it cannot be re-blocked to ${opts.blockSize}`);
    }
    const ids = new Set<number>();
    // Chain-hash ids (equal id ⇔ equal prefix): the ids already counted are a prefix of each request's.
    for (const r of reqs) for (let i = prefixIn((id) => ids.has(id), r.hashIds); i < r.hashIds.length; i++) ids.add(r.hashIds[i]!);
    return { kind: src.kind, level: 'block', blockSize: src.blockSize ?? reqs[0]?.blockSize ?? DEFAULT_BLOCK_SIZE, requests: reqs, uniqueBlocks: ids.size };
  }
  const hasher = await createChainHasher(opts.hash ?? 'xxh64', opts.salt ?? '');
  // Read twice (linking, then blocks), one request at a time: an async source (Postgres) a page at a time, so its
  // bodies are never all in memory.
  let linkOf = opts.linkOf;
  if (!linkOf) {
    const c = new FactsCollector();
    for await (const r of iterateRequests(src)) c.add(r);
    linkOf = linksOf(c.result().facts);
  }
  const b = new BlockModelBuilder({ tokenizer: opts.tokenizer, hasher, blockSize: opts.blockSize, linkOf });
  for await (const r of iterateRequests(src)) b.add(r);
  const res = b.result();
  return { kind: src.kind, level: 'content', blockSize: res.blockSize, requests: res.requests, uniqueBlocks: res.uniqueBlocks };
}

export type { BlockRequest };
