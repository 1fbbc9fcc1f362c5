import type { SimRequest } from '../../src/analyze/cache/policy.js';

/** Builds a block request by hand: `ids` are its full-block hash ids (block size 64 unless given). */
export function req(p: Partial<SimRequest> & { ids: number[] }): SimRequest {
  const bs = p.blockSize ?? 64;
  const input = p.inputTokens ?? p.ids.length * bs;
  return {
    id: p.id ?? `r${Math.random()}`,
    conversationId: p.conversationId ?? 'c1',
    agentId: p.agentId ?? p.conversationId ?? 'c1',
    parentAgentId: p.parentAgentId ?? null,
    t: p.t ?? 0,
    model: p.model ?? 'claude-sonnet-4-5',
    inputTokens: input,
    outputTokens: p.outputTokens ?? 10,
    hashIds: p.ids,
    blockSize: bs,
    breakpoints: p.breakpoints ?? [input],
    segmentEnds: p.segmentEnds,
    apiTime: p.apiTime ?? null,
    thinkTime: null,
    ttft: p.ttft ?? null,
    usage: p.usage ?? null,
    stopReason: null,
  };
}

export const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
