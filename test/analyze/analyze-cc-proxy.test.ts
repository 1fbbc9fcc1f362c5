/**
 * A claude-code-proxy-format DB built from ../shared/fixtures/claude-code bodies analyses correctly: usage is
 * recovered from the response JSON, the Read-tool loop links into one agent, the title request is a side
 * request of its session, calibration is reported, and the DB is not modified.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { HAS_SHARED } from '../helpers/paths.js';
import { fixtureBody, makeCcProxyDb, tmp } from '../store/sources-fixtures.js';
import { tokenBreakdown } from '../../src/analyze/token-breakdown.js';
import { TokenCounter } from '../../src/analyze/token-counter.js';
import { getTokenizer } from '../../src/analyze/tokenizers/index.js';
import { runCli } from './run-cli.js';

const dir = tmp('analyze-ccproxy');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!HAS_SHARED)('trace analyze <claude-code-proxy DB>', () => {
  it('analyses usage, linking, side requests and calibration without touching the DB', async () => {
    const f = makeCcProxyDb(dir);
    const before = createHash('sha256').update(readFileSync(f.path)).digest('hex');
    const res = await runCli(['analyze', f.path, '--json', '--tokenizer', 'o200k']);
    expect(res.code).toBe(0);
    const r = JSON.parse(res.stdout);
    expect(r.kind).toBe('cc-proxy-db');
    expect(r.skipped).toBe(1);
    expect(res.warnings).toHaveLength(1);
    const us = Object.values(f.usage);
    expect(r.tokens).toEqual({
      input: us.reduce((s, u) => s + u.input_tokens, 0),
      cacheRead: us.reduce((s, u) => s + u.cache_read_input_tokens, 0),
      cacheCreation: us.reduce((s, u) => s + u.cache_creation_input_tokens, 0),
      output: us.reduce((s, u) => s + u.output_tokens, 0),
      context: us.reduce((s, u) => s + u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens, 0),
    });
    expect(r.cache).toMatchObject({ hits: 1, requestsWithUsage: 4 });
    // Sessions: tool loop (r1 → r2) and "Who are you?" (r4) with its title request (r3).
    expect(r.totals.conversations).toBe(2);
    expect(r.totals.sideRequests).toBe(1);
    expect(r.totals.byKind).toEqual({ tool_use: 1, tool_result: 1, side: 1, text: 1, error: 0 });
    expect(r.indexStored).toBe(false);
    // Calibration = API context / our count, over the 4 complete bodies with usage.
    expect(r.breakdown.calibration.requests).toBe(4);
    expect(r.breakdown.calibration.apiContext).toBe(r.tokens.context);
    // Our count, independently: o200k over each fixture body's prompt segments (the 4 bodies the DB holds).
    const ours = ['main-tool-first', 'main-tool-result', 'title-haiku', 'main-text']
      .map((n) => tokenBreakdown(fixtureBody(n), new TokenCounter(getTokenizer('o200k'))).total)
      .reduce((a, b) => a + b, 0);
    const apiContext = us.reduce((s, u) => s + u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens, 0);
    expect(r.breakdown.calibration.ours).toBe(ours);
    expect(r.breakdown.calibration.ratio).toBeCloseTo(apiContext / ours, 10);
    // Every request is calibrated, so the scaled total is the API's context.
    expect(r.breakdown.scaled.total).toBe(apiContext);
    expect(r.breakdown.tools + r.breakdown.system + r.breakdown.messages).toBe(r.breakdown.total);
    expect(r.biggestTools.length).toBeGreaterThan(0);
    expect(createHash('sha256').update(readFileSync(f.path)).digest('hex')).toBe(before);

    const shown = await runCli(['show', f.path, 'r2', '--json', '--tokenizer', 'chars4']);
    expect(shown.code).toBe(0);
    const s = JSON.parse(shown.stdout);
    expect(s.index).toMatchObject({ turnIndex: 1, parentRequestId: 'r1', linkedBy: 'prefix', kind: 'tool_result' });
    // r1 started 10:00:00 and took 1500 ms; r2 started 10:00:03 → think time 1.5 s.
    expect(s.index.thinkTimeMs).toBe(1500);
    expect(s.cacheStatus).toBe('hit');
    expect(s.messages.length).toBeGreaterThanOrEqual(3);

    const listed = await runCli(['list', f.path, '--json']);
    const l = JSON.parse(listed.stdout);
    expect(l.conversations).toHaveLength(2);
    expect(l.conversations.map((c: any) => c.requests).sort()).toEqual([2, 2]);
  });
});
