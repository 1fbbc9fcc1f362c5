import { readSourceText } from './json-lines.js';
import { basename } from 'node:path';
import { SourceError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { BlockRequest } from '../../shared/trace-record.js';
import { splitAgentChains } from './agent-chains.js';
import { HashNamespace, maxHashId, type IdMap } from './hash-namespace.js';
import type { CorpusFileFacts, OpenSourceOptions, OpenedSource, SourceImporter, SourceProbe } from './source.js';

/** One request of a kv-cache-tester minimal trace (callanjfox/kv-cache-tester, Weka / cc-traces-weka). */
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
  ttft?: number | null;
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

/**
 * How a sub-agent request's `t` is counted: 'relative' to the sub-agent entry's spawn `t` (kv-cache-tester's own
 * samples), or 'absolute' on the trace's clock (current Weka captures). Detected per file: relative when any
 * nested request starts before its entry (impossible on an absolute clock); null when the file has no sub-agents.
 */
export type SubagentTConvention = 'relative' | 'absolute' | null;

/** What one file held, for `--json` (`source.corpus.files`) and the warnings. */
export interface KvFileFacts extends CorpusFileFacts {
  file: string;
  session_id: string;
  requests: number;
  subagents: number;
  subagent_t: SubagentTConvention;
  /** `hash_id_scope` as written ('global' / 'local': one namespace for the file; 'per_context': one per agent). */
  hash_id_scope: string;
  /** Top-level agents found by splitting interleaved requests into longest-common-prefix chains (1 = none flattened). */
  top_level_agents: number;
  /** Requests without `in`: their size was taken as hash_ids × block_size (a lower bound) and they are counted here. */
  missing_in: number;
  /** Requests with neither `in` nor hash ids: skipped. */
  skipped: number;
}

export function parseKvTrace(text: string, path: string): KvTrace {
  let d: unknown;
  try {
    d = JSON.parse(text);
  } catch (e) {
    throw new SourceError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const o = d as Partial<KvTrace>;
  if (!o || typeof o !== 'object' || !Array.isArray(o.requests) || typeof o.block_size !== 'number' || !(o.block_size > 0)) {
    throw new SourceError(`${path}: not a kv-cache-tester trace (needs block_size and requests[])`);
  }
  return o as KvTrace;
}

const EPS = 1e-6;

export function detectSubagentT(trace: KvTrace): SubagentTConvention {
  let any = false;
  for (const e of trace.requests) {
    if (!e || !Array.isArray(e.requests)) continue;
    any = true;
    for (const s of e.requests) if (s && typeof s.t === 'number' && s.t + EPS < (e.t ?? 0)) return 'relative';
  }
  return any ? 'absolute' : null;
}

export interface KvConvertOptions {
  /** Allocates this file's hash-id namespace(s) (per file; per agent with `per_context`). Default: a fresh one. */
  ns?: HashNamespace;
  /** File name used in ids / warnings (default: the trace id). */
  file?: string;
  logger?: Logger;
  /** Returns the session id to use for a trace id (a corpus makes repeated ids unique). */
  claimId?: (id: string) => string;
}

/**
 * Flattens a kv-cache-tester trace into block requests. The conversation id is the trace's `id` (the session);
 * sub-agent requests are put on the trace clock per the file's `t` convention; interleaved top-level requests
 * are split into agents by hash-id prefix chains (./agent-chains.ts); hash ids are renumbered into this file's
 * namespace so that two files never share a block.
 */
export function kvTraceToBlocks(trace: KvTrace, opts: KvConvertOptions = {}): { blocks: KvBlockRequest[]; facts: KvFileFacts } {
  const raw0 = String(trace.id ?? opts.file ?? 'trace');
  const conv = opts.claimId ? opts.claimId(raw0) : raw0;
  const file = opts.file ?? conv;
  const bs = trace.block_size;
  const scope = String(trace.hash_id_scope ?? 'global');
  const perContext = scope === 'per_context';
  const ns = opts.ns ?? new HashNamespace();
  const tConv = detectSubagentT(trace);
  const facts: KvFileFacts = { file, session_id: conv, requests: 0, subagents: 0, subagent_t: tConv, hash_id_scope: scope, top_level_agents: 1, missing_in: 0, skipped: 0 };
  const out: KvBlockRequest[] = [];
  const prefixOf = (tool: number | undefined, sys: number | undefined) => (tool ?? 0) + (sys ?? 0);
  const allLists = function* () {
    for (const r of trace.requests) {
      yield r?.hash_ids;
      if (Array.isArray(r?.requests)) for (const s of r.requests) yield s?.hash_ids;
    }
  };
  const maxId = maxHashId(allLists());
  const maps = new Map<string, IdMap>();
  const mapOf = (ctx: string) => maps.get(ctx) ?? maps.set(ctx, ns.open(maxId)).get(ctx)!;

  const push = (r: KvTraceRequest, agentId: string, parent: string | null, offset: number, idx: string, prefix: number, sub?: KvTraceRequest) => {
    const raw = Array.isArray(r.hash_ids) ? r.hash_ids : [];
    let inTok = r.in;
    if (typeof inTok !== 'number' || !Number.isFinite(inTok)) {
      if (!raw.length) {
        facts.skipped++;
        return;
      }
      facts.missing_in++;
      inTok = raw.length * bs;
    }
    const bps = [prefix, inTok].filter((p, i, a) => p > 0 && p <= inTok && a.indexOf(p) === i);
    let subMeta: Omit<KvTraceRequest, 'requests'> | undefined;
    if (sub) {
      const { requests: _nested, ...rest } = sub;
      subMeta = rest;
    }
    facts.requests++;
    out.push({
      id: `${conv}:${idx}`,
      conversationId: conv,
      agentId,
      parentAgentId: parent,
      t: offset + (typeof r.t === 'number' ? r.t : 0),
      model: r.model ?? null,
      inputTokens: inTok,
      outputTokens: r.out ?? 0,
      hashIds: mapOf(perContext ? agentId : '').map(raw),
      blockSize: bs,
      // No markers in this format: assume Claude Code's placement (end of tools+system, end of prompt).
      breakpoints: bps,
      apiTime: r.api_time ?? null,
      thinkTime: r.think_time ?? null,
      ttft: r.ttft ?? null,
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

  const top: { r: KvTraceRequest; i: number }[] = [];
  trace.requests.forEach((r, i) => {
    if (!r || typeof r !== 'object') {
      facts.skipped++;
      return;
    }
    if (Array.isArray(r.requests)) {
      facts.subagents++;
      const agent = String(r.agent_id ?? `subagent-${i}`);
      const prefix = prefixOf(r.tool_tokens, r.system_tokens);
      const offset = tConv === 'relative' ? (r.t ?? 0) : 0;
      r.requests.forEach((s, j) => (s && typeof s === 'object' ? push(s, agent, conv, offset, `${i}.${j}`, prefix, r) : facts.skipped++));
    } else top.push({ r, i });
  });
  // Top-level requests: split interleaved agents (Workflow fan-outs) by hash-id prefix chains.
  const split = splitAgentChains(top.map(({ r }) => ({ t: r.t ?? 0, end: (r.t ?? 0) + Math.max(0, r.api_time ?? 0), model: r.model ?? null, hashIds: Array.isArray(r.hash_ids) ? r.hash_ids : [] })));
  facts.top_level_agents = Math.max(1, split.chains);
  const prefix = prefixOf(trace.tool_tokens, trace.system_tokens);
  top.forEach(({ r, i }, k) => {
    const c = split.chainOf[k]!;
    push(r, c === 0 ? conv : `${conv}:agent-${c}`, c === 0 ? null : conv, 0, String(i), prefix);
  });
  if (facts.missing_in && opts.logger) {
    opts.logger.warn(`${file}: ${facts.missing_in} request(s) without "in": sized as hash_ids × block_size (${bs}), a lower bound`);
  }
  if (facts.skipped && opts.logger) opts.logger.warn(`${file}: ${facts.skipped} request(s) with neither "in" nor hash_ids skipped`);
  return { blocks: out.sort((a, b) => a.t - b.t), facts };
}

/** Reads and converts one kv-cache-tester file (a SourceError when it is not one). */
export function readKvFile(path: string, opts: KvConvertOptions): { blocks: KvBlockRequest[]; facts: KvFileFacts; blockSize: number } {
  const text = readSourceText(path);
  const trace = parseKvTrace(text, opts.file ?? basename(path));
  return { ...kvTraceToBlocks(trace, opts), blockSize: trace.block_size };
}

export const kvCacheTesterImporter: SourceImporter = {
  kind: 'kv-cache-tester',
  description: 'kv-cache-tester / Weka minimal trace JSON (block_size, hash_ids, sub-agent entries); a directory of them is a corpus',
  level: 'block',
  detect(p: SourceProbe): boolean {
    if (p.isDirectory || !p.head) return false;
    const head = p.head.toString('utf8').trimStart();
    return head.startsWith('{') && head.includes('"block_size"') && (head.includes('"hash_ids"') || head.includes('"requests"'));
  },
  open(path: string, options: OpenSourceOptions): OpenedSource {
    const { blocks, facts, blockSize } = readKvFile(path, { file: basename(path), logger: options.logger });
    const stats = { skipped: facts.skipped, yielded: 0 };
    return {
      kind: 'kv-cache-tester',
      path,
      level: 'block',
      estimatedCount: blocks.length,
      blockSize,
      stats,
      corpus: { files: 1, skipped_files: [], hash_id_namespace: 'per-file', sessions: [facts] },
      requests: () => [],
      blocks: () => {
        stats.yielded = blocks.length;
        return blocks;
      },
      close() {},
    };
  },
};
