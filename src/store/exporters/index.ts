import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, UsageError } from '../../shared/errors.js';
import type { BlockRequest } from '../../shared/trace-record.js';
import { toKvTraces } from './kv-cache-tester.js';
import { mooncakeJsonl, toMooncakeRows } from './mooncake.js';

export { toKvTraces } from './kv-cache-tester.js';
export { toMooncakeRows, mooncakeJsonl } from './mooncake.js';

/** Registry of export formats: name → writer of files under a directory (returns the paths written). */
export const EXPORTERS: Record<string, { description: string; write(reqs: readonly BlockRequest[], dir: string, name: string): string[] }> = {
  'kv-cache-tester': {
    description: 'kv-cache-tester minimal trace JSON, one file per conversation',
    write(reqs, dir) {
      return toKvTraces(reqs).map((t, i) => {
        const file = join(dir, `${safeName(t.id) || `trace-${i + 1}`}.json`);
        writeFileSync(file, JSON.stringify(t) + '\n');
        return file;
      });
    },
  },
  mooncake: {
    description: 'Mooncake JSONL (timestamp ms, input_length, output_length, hash_ids), one file',
    write(reqs, dir, name) {
      const file = join(dir, `${safeName(name) || 'trace'}.jsonl`);
      writeFileSync(file, mooncakeJsonl(toMooncakeRows(reqs)));
      return [file];
    },
  },
};

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 120);
}

export function exportBlocks(format: string, reqs: readonly BlockRequest[], dir: string, name: string): string[] {
  const ex = EXPORTERS[format];
  if (!ex) throw new UsageError(`unknown --format "${format}" (known: ${Object.keys(EXPORTERS).join(', ')})`);
  if (reqs.length === 0) throw new InputError('nothing to export: the source has no requests');
  mkdirSync(dir, { recursive: true });
  return ex.write(reqs, dir, name);
}

/**
 * Anonymisation: no content (block exports never carry any), hash ids remapped to a fresh first-seen numbering
 * (after salted hashing upstream), conversation and agent ids replaced by sequential names.
 */
export function anonymizeBlocks<T extends BlockRequest>(reqs: readonly T[]): T[] {
  const ids = new Map<number, number>();
  const convs = new Map<string, string>();
  const agents = new Map<string, string>();
  const conv = (c: string) => convs.get(c) ?? (convs.set(c, `trace-${convs.size + 1}`), convs.get(c)!);
  const agent = (a: string) => agents.get(a) ?? (agents.set(a, `agent-${agents.size + 1}`), agents.get(a)!);
  return [...reqs]
    .sort((a, b) => a.t - b.t)
    .map((r, i) => {
      const rec = r as T & { subagent?: Record<string, unknown> };
      const mapped = {
        ...rec,
        id: `r${i + 1}`,
        requestId: undefined,
        conversationId: conv(r.conversationId),
        agentId: r.agentId === r.conversationId ? conv(r.conversationId) : agent(r.agentId),
        parentAgentId: r.parentAgentId === null ? null : r.parentAgentId === r.conversationId ? conv(r.conversationId) : agent(r.parentAgentId),
        hashIds: r.hashIds.map((h) => ids.get(h) ?? (ids.set(h, ids.size + 1), ids.size)),
      };
      if (rec.subagent) mapped.subagent = { ...rec.subagent, agent_id: mapped.agentId };
      return mapped;
    });
}
