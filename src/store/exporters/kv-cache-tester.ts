import type { BlockRequest } from '../../shared/trace-record.js';
import type { KvTrace, KvTraceRequest } from '../sources/kv-cache-tester.js';

/** Extra fields block requests may carry (from the block model or the kv-cache-tester importer). */
type Extra = BlockRequest & {
  inputTypes?: string[];
  outputTypes?: string[];
  toolTokens?: number;
  systemTokens?: number;
  subagent?: Omit<KvTraceRequest, 'requests'>;
};

const r3 = (x: number) => Math.round(x * 1000) / 1000;

function entry(r: Extra, t: number): KvTraceRequest {
  return {
    t: r3(t),
    type: r.type && r.type !== 'subagent' ? r.type : 'n',
    model: r.model,
    in: r.inputTokens,
    out: r.outputTokens,
    hash_ids: r.hashIds,
    input_types: r.inputTypes ?? [],
    output_types: r.outputTypes ?? [],
    stop: r.stopReason,
    api_time: r.apiTime === null ? null : r3(r.apiTime),
    think_time: r.thinkTime === null ? null : r3(r.thinkTime),
  };
}

/**
 * One kv-cache-tester minimal trace per conversation: top-level agents' requests in time order, each sub-agent
 * as a `type: "subagent"` entry (t = its first request) with its requests nested (t relative to the entry).
 * Deeper sub-agents and side requests (title, quota…) are flattened into entries of the conversation. Field order follows the reference samples.
 */
export function toKvTraces(reqs: readonly BlockRequest[]): KvTrace[] {
  const byConv = new Map<string, Extra[]>();
  for (const r of reqs) (byConv.get(r.conversationId) ?? byConv.set(r.conversationId, []).get(r.conversationId)!).push(r as Extra);
  const out: KvTrace[] = [];
  for (const [conv, rows] of byConv) {
    rows.sort((a, b) => a.t - b.t);
    const t0 = rows[0]!.t;
    // The main agent's id is the conversation id; every other agent (sub-agents, side requests) is an entry.
    const hasMain = rows.some((x) => x.agentId === conv);
    const isMain = (r: Extra) => r.agentId === conv || (!hasMain && r.parentAgentId === null);
    const main = rows.filter(isMain);
    const subs = new Map<string, Extra[]>();
    for (const r of rows) if (!isMain(r)) (subs.get(r.agentId) ?? subs.set(r.agentId, []).get(r.agentId)!).push(r);
    const items: { t: number; e: KvTraceRequest }[] = main.map((r) => ({ t: r.t - t0, e: entry(r, r.t - t0) }));
    for (const [agentId, list] of subs) {
      const first = list[0]!;
      const last = list[list.length - 1]!;
      const st = first.t - t0;
      const meta = first.subagent;
      const models = [...new Set(list.map((r) => r.model).filter((m): m is string => !!m))];
      items.push({
        t: st,
        e: {
          t: r3(st),
          type: 'subagent',
          agent_id: agentId,
          subagent_type: meta?.subagent_type ?? null,
          duration_ms: meta?.duration_ms ?? Math.round((last.t + (last.apiTime ?? 0) - first.t) * 1000),
          total_tokens: meta?.total_tokens ?? last.inputTokens + last.outputTokens,
          tool_use_count: meta?.tool_use_count ?? null,
          status: meta?.status ?? null,
          models: meta?.models ?? models,
          tool_tokens: meta?.tool_tokens ?? first.toolTokens ?? 0,
          system_tokens: meta?.system_tokens ?? first.systemTokens ?? 0,
          requests: list.map((r) => entry(r, r.t - first.t)),
        },
      });
    }
    items.sort((a, b) => a.t - b.t);
    const firstMain = main[0] ?? rows[0]!;
    out.push({
      id: conv,
      models: [...new Set((main.length ? main : rows).map((r) => r.model).filter((m): m is string => !!m))],
      block_size: rows[0]!.blockSize,
      hash_id_scope: 'global',
      tool_tokens: firstMain.toolTokens ?? 0,
      system_tokens: firstMain.systemTokens ?? 0,
      requests: items.map((i) => i.e),
    });
  }
  return out;
}
