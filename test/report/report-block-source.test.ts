/**
 * `trace report` of a block-level source (kv-cache-tester JSON: no request content): the report is written, its
 * explorer has no content panel, and the legends name the sub-agents' roles from the source's parent links.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES, HAS_SHARED, TRACE_BIN } from '../helpers/paths.js';

const SRC = join(FIXTURES, 'agentic-coding-analysis', 'sample_trace_with_subagent.json');
const dir = mkdtempSync(join(tmpdir(), 'trace-report-block-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!HAS_SHARED)('trace report of a block-level source', () => {
  it('writes the report with an explorer without content and sub-agent roles in the legends', () => {
    const out = join(dir, 'report.html');
    const r = spawnSync(process.execPath, [TRACE_BIN, 'report', SRC, '--out', out, '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const html = readFileSync(out, 'utf8');
    const data = JSON.parse(/const D = (.*);\n/.exec(html)![1]!) as { agentLabels: string[] };
    const ex = JSON.parse(/const EX = (.*);\n/.exec(html)![1]!) as { model: { hasContent: boolean; agents: { role: string; parent: string | null }[] }; details: unknown };
    expect(ex.model.hasContent).toBe(false);
    expect(ex.details).toBeNull();
    const subs = ex.model.agents.filter((a) => a.role === 'sub-agent');
    expect(subs.length).toBeGreaterThan(0);
    expect(subs.every((a) => a.parent !== null)).toBe(true);
    expect(data.agentLabels.filter((l) => l.includes('sub-agent of')).length).toBe(subs.length);
    expect(data.agentLabels.filter((l) => l === 'main')).toHaveLength(ex.model.agents.length - subs.length);
  });
});
