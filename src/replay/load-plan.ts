import { basename, extname } from 'node:path';
import { blockRequestsOf, indexLinks } from '../analyze/blocks/from-source.js';
import { getTokenizer } from '../analyze/tokenizers/index.js';
import { UsageError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { BlockRequest, TraceRequest } from '../shared/trace-record.js';
import { openSource } from '../store/sources/index.js';
import { filterConversation, planFromBlocks, planFromTraceRequests } from './plan.js';
import type { ContentMode, ReplayPlan } from './types.js';

export interface LoadPlanOptions {
  content: ContentMode;
  logger: Logger;
  /** Importer kind (auto-detected when absent). */
  kind?: string;
  /** Tokenizer and block size of the block model (content sources; expected cache + synthetic content). */
  tokenizer?: string;
  blockSize?: number;
  conversation?: string | null;
}

function traceNameOf(path: string): string {
  const b = basename(path.replace(/\/+$/, ''));
  return b.slice(0, b.length - extname(b).length) || b;
}

/**
 * Opens any analyze source and plans its replay. Agents of content sources come from the conversation index
 * (src/analyze/conversation-index.ts). Content sources are also run through the block model (same
 * tokenizer / block size as the cache simulator) so every request carries hash ids for the expected-cache
 * column and, with --content synthetic, for the filler text. Block-level sources (kv-cache-tester, Mooncake)
 * only support synthetic content.
 */
export async function loadPlan(path: string, o: LoadPlanOptions): Promise<ReplayPlan> {
  const src = openSource(path, { logger: o.logger, kind: o.kind });
  try {
    const name = traceNameOf(path);
    let plan: ReplayPlan;
    if (src.level === 'block') {
      if (o.content === 'recorded') {
        throw new UsageError(`${path} is a block-level trace (${src.kind}) without content: use --content synthetic`);
      }
      const bs = await blockRequestsOf(src, { tokenizer: getTokenizer(o.tokenizer), blockSize: o.blockSize });
      plan = planFromBlocks(bs.requests, name, src.kind);
    } else {
      const records: TraceRequest[] = [...src.requests()];
      // Conversations / agents / parents from the conversation index (hints, structural prefix links, spawns).
      const link = indexLinks(records);
      const bs = await blockRequestsOf(
        { kind: src.kind, path: src.path, level: src.level, estimatedCount: records.length, stats: src.stats, requests: () => records, close() {} },
        { tokenizer: getTokenizer(o.tokenizer), blockSize: o.blockSize, linkOf: link },
      );
      if (o.content === 'synthetic') {
        plan = planFromBlocks(bs.requests, name, src.kind);
      } else {
        const byId = new Map<string, BlockRequest>();
        for (const b of bs.requests) byId.set(b.requestId ?? b.id, b);
        plan = planFromTraceRequests(records, name, src.kind, {
          blocksById: byId,
          agentOf: (r) => {
            const l = link(r);
            return { conversationId: l.conversationId, agent: l.agentId, parent: l.parentAgentId };
          },
        });
      }
    }
    if (o.conversation) plan = filterConversation(plan, o.conversation);
    if (plan.requests.length === 0) throw new UsageError(`${path}: nothing to replay (no /v1/messages requests)`);
    return plan;
  } finally {
    src.close();
  }
}
