import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { SourceError } from '../../shared/errors.js';
import type { BlockRequest } from '../../shared/trace-record.js';
import type { OpenSourceOptions, OpenedSource, SourceImporter, SourceProbe } from './source.js';

/** One request of a kv-cache-tester minimal trace (callanjfox/agentic-coding-analysis). */
export interface KvTraceRequest {
  t: number;
  type: string;
  model?: string | null;
  in?: number;
  out?: number;
  hash_ids?: number[];
  input_types?: string[];
  output_types?: string[];
  stop?: string | null;
  api_time?: number | null;
  think_time?: number | null;
  /** Sub-agent entries ('subagent'): */
  agent_id?: string;
  subagent_type?: string | null;
  duration_ms?: number | null;
  total_tokens?: number | null;
  tool_use_count?: number | null;
  status?: string | null;
  models?: string[];
  tool_tokens?: number;
  system_tokens?: number;
  requests?: KvTraceRequest[];
}

export interface KvTrace {
  id: string;
  models: string[];
  block_size: number;
  hash_id_scope: string;
  tool_tokens: number;
  system_tokens: number;
  requests: KvTraceRequest[];
  [extra: string]: unknown;
}

/** Block request as imported from kv-cache-tester (extra fields kept for lossless re-export). */
export type KvBlockRequest = BlockRequest & {
  inputTypes?: string[];
  outputTypes?: string[];
  toolTokens?: number;
  systemTokens?: number;
  /** The sub-agent entry this request belongs to (without its requests), for re-export. */
  subagent?: Omit<KvTraceRequest, 'requests'>;
};

export function parseKvTrace(text: string, path: string): KvTrace {
  let d: unknown;
  try {
    d = JSON.parse(text);
  } catch (e) {
    throw new SourceError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const o = d as Partial<KvTrace>;
  if (!o || typeof o !== 'object' || !Array.isArray(o.requests) || typeof o.block_size !== 'number') {
    throw new SourceError(`${path}: not a kv-cache-tester trace (needs block_size and requests[])`);
  }
  return o as KvTrace;
}

/** Flattens a kv-cache-tester trace into block requests (sub-agent requests get absolute t = entry.t + t). */
export function kvTraceToBlocks(trace: KvTrace): KvBlockRequest[] {
  const conv = String(trace.id ?? 'trace');
  const bs = trace.block_size;
  const out: KvBlockRequest[] = [];
  const prefixOf = (tool: number | undefined, sys: number | undefined) => (tool ?? 0) + (sys ?? 0);
  const push = (r: KvTraceRequest, agentId: string, parent: string | null, offset: number, idx: string, prefix: number, sub?: KvTraceRequest) => {
    const inTok = r.in ?? 0;
    const bps = [prefix, inTok].filter((p, i, a) => p > 0 && p <= inTok && a.indexOf(p) === i);
    let subMeta: Omit<KvTraceRequest, 'requests'> | undefined;
    if (sub) {
      const { requests: _nested, ...rest } = sub;
      subMeta = rest;
    }
    out.push({
      id: `${conv}:${idx}`,
      conversationId: conv,
      agentId,
      parentAgentId: parent,
      t: offset + (r.t ?? 0),
      model: r.model ?? null,
      inputTokens: inTok,
      outputTokens: r.out ?? 0,
      hashIds: r.hash_ids ?? [],
      blockSize: bs,
      // No markers in this format: assume Claude Code's placement (end of tools+system, end of prompt).
      breakpoints: bps,
      apiTime: r.api_time ?? null,
      thinkTime: r.think_time ?? null,
      ttft: null,
      usage: null,
      stopReason: r.stop ?? null,
      type: r.type,
      inputTypes: r.input_types,
      outputTypes: r.output_types,
      toolTokens: sub ? sub.tool_tokens : trace.tool_tokens,
      systemTokens: sub ? sub.system_tokens : trace.system_tokens,
      ...(subMeta ? { subagent: subMeta } : {}),
    });
  };
  trace.requests.forEach((r, i) => {
    if (Array.isArray(r.requests)) {
      const agent = String(r.agent_id ?? `subagent-${i}`);
      const prefix = prefixOf(r.tool_tokens, r.system_tokens);
      r.requests.forEach((s, j) => push(s, agent, conv, r.t ?? 0, `${i}.${j}`, prefix, r));
    } else {
      push(r, conv, null, 0, String(i), prefixOf(trace.tool_tokens, trace.system_tokens));
    }
  });
  return out.sort((a, b) => a.t - b.t);
}

export const kvCacheTesterImporter: SourceImporter = {
  kind: 'kv-cache-tester',
  description: 'kv-cache-tester minimal trace JSON (block_size, hash_ids, sub-agent entries)',
  level: 'block',
  detect(p: SourceProbe): boolean {
    if (p.isDirectory || !p.head) return false;
    const head = p.head.toString('utf8').trimStart();
    return head.startsWith('{') && head.includes('"block_size"') && head.includes('"hash_ids"');
  },
  open(path: string, _options: OpenSourceOptions): OpenedSource {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new SourceError(`cannot read ${path}: ${(e as Error).message}`);
    }
    const trace = parseKvTrace(text, basename(path));
    const blocks = kvTraceToBlocks(trace);
    const stats = { skipped: 0, yielded: 0 };
    return {
      kind: 'kv-cache-tester',
      path,
      level: 'block',
      estimatedCount: blocks.length,
      blockSize: trace.block_size,
      stats,
      requests: () => [],
      blocks: () => {
        stats.yielded = blocks.length;
        return blocks;
      },
      close() {},
    };
  },
};
