/**
 * `trace analyze ../shared/fixtures/agentic-coding-analysis/jsonl --json` through the real CLI binary:
 * 1 parent + 4 sub-agents, and API token totals equal to a sum over the JSONL assistant usages deduplicated by
 * message id — computed here independently (every assistant entry, including the parent's progress echoes).
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, HAS_SHARED, TRACE_BIN } from '../helpers/paths.js';

const JSONL = join(FIXTURES, 'agentic-coding-analysis', 'jsonl');

function expectedTotals(): { input: number; cacheRead: number; cacheCreation: number; output: number; calls: number } {
  const byId = new Map<string, Record<string, number>>();
  const visit = (o: any) => {
    if (o?.type === 'assistant' && o.message?.id && o.message.usage && o.message.model !== '<synthetic>') byId.set(o.message.id, o.message.usage);
  };
  for (const f of readdirSync(JSONL).filter((n) => n.endsWith('.jsonl'))) {
    for (const line of readFileSync(join(JSONL, f), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      let o: any;
      try {
        o = JSON.parse(line);
      } catch {
        continue;
      }
      visit(o);
      if (o.type === 'progress' && o.data?.type === 'agent_progress') visit(o.data.message);
    }
  }
  const t = { input: 0, cacheRead: 0, cacheCreation: 0, output: 0, calls: byId.size };
  for (const u of byId.values()) {
    t.input += u.input_tokens ?? 0;
    t.cacheRead += u.cache_read_input_tokens ?? 0;
    t.cacheCreation += u.cache_creation_input_tokens ?? 0;
    t.output += u.output_tokens ?? 0;
  }
  return t;
}

describe.skipIf(!HAS_SHARED)('trace analyze <agentic-coding-analysis jsonl> --json', () => {
  it('reports 1 parent + 4 sub-agents and API token totals equal to the deduplicated JSONL usage', () => {
    const out = execFileSync(process.execPath, [TRACE_BIN, 'analyze', JSONL, '--json', '--tokenizer', 'chars4'], { encoding: 'utf8' });
    const r = JSON.parse(out);
    const exp = expectedTotals();
    expect(r.kind).toBe('claude-jsonl');
    expect(r.totals.mainAgents).toBe(1);
    expect(r.totals.subagents).toBe(4);
    expect(r.totals.conversations).toBe(1);
    expect(r.totals.requests).toBe(exp.calls);
    expect(r.tokens.input).toBe(exp.input);
    expect(r.tokens.cacheRead).toBe(exp.cacheRead);
    expect(r.tokens.cacheCreation).toBe(exp.cacheCreation);
    expect(r.tokens.output).toBe(exp.output);
    expect(r.tokens.context).toBe(exp.input + exp.cacheRead + exp.cacheCreation);
    const subs = r.perAgent.filter((a: any) => a.isSubagent);
    const main = r.perAgent.find((a: any) => !a.isSubagent);
    expect(subs).toHaveLength(4);
    for (const s of subs) expect(s.parentAgentId).toBe(main.agentId);
    expect(main.models).toEqual(['claude-opus-4-6']);
    expect(r.perAgent.reduce((s: number, a: any) => s + a.requests, 0)).toBe(exp.calls);
    // Sub-agents run concurrently: their think times are small gaps between tool results and the next call.
    expect(r.timing.thinkTimeMs.n).toBe(exp.calls - 5);
  });
});
