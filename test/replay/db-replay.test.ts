/**
 * Replays a requests.db (our capture schema) holding the real Claude Code request bodies from ../shared —
 * main tool loop (2 turns), a sub-agent and the title request — with recorded content, in-process.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDb } from '../../src/store/db.js';
import { upsertRequests } from '../../src/store/requests-repo.js';
import { loadPlan } from '../../src/replay/load-plan.js';
import { runReplay } from '../../src/replay/runner.js';
import { getBackend } from '../../src/replay/backends/index.js';
import { silentLogger } from '../../src/shared/logger.js';
import { systemClock } from '../../src/shared/clock.js';
import { createFakeAnthropic, textReply } from '../helpers/fake-anthropic.js';
import { createFakeOpenAI } from './fake-openai.js';
import { FIXTURES, HAS_SHARED } from '../helpers/paths.js';
import { handlerFetch } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'trace-replay-db-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FILES = ['title-haiku', 'main-tool-first', 'subagent', 'main-tool-result'];

function buildDb(): string {
  const path = join(dir, 'requests.db');
  const db = openDb(path);
  const t0 = Date.UTC(2026, 0, 1);
  const at = { 'title-haiku': 0, 'main-tool-first': 100, subagent: 5000, 'main-tool-result': 9000 } as Record<string, number>;
  upsertRequests(
    db,
    FILES.map((f, i) => {
      const body = readFileSync(join(FIXTURES, 'claude-code', `${f}-2.1.197.json`), 'utf8');
      return {
        id: `row-${i}`,
        method: 'POST',
        endpoint: '/v1/messages',
        headers: '{}',
        body,
        started_at_ms: t0 + at[f]!,
        duration_ms: 2000,
        ttft_ms: 500,
        status: 200,
        state: 'complete',
        seq: i,
        input_tokens: 10,
        output_tokens: 20,
        cache_read_input_tokens: 0,
        cache_creation_input_tokens: 0,
      };
    }),
  );
  db.close();
  return path;
}

describe.skipIf(!HAS_SHARED)('replay of a requests.db with real Claude Code bodies', () => {
  it('recorded content: sends the recorded bodies (model replaced), agents kept apart, expected cache from the block model', async () => {
    const path = buildDb();
    const plan = await loadPlan(path, { content: 'recorded', logger: silentLogger, blockSize: 64 });
    expect(plan.sourceKind).toBe('trace-db');
    expect(plan.requests).toHaveLength(4);
    const agents = new Set(plan.requests.map((r) => r.agentKey));
    expect(agents.size).toBe(3); // title, main, sub-agent (own system prompt)
    const second = plan.requests.find((r) => r.id === 'row-3')!;
    expect(second.deps).toEqual(['row-1']); // the tool-result turn follows the tool-use turn of the same agent
    const fake = createFakeAnthropic({ script: () => textReply('ok') });
    const res = await runReplay({
      plan, backend: getBackend('anthropic'), endpoint: 'http://fake', apiKey: 'k', model: 'local-model', timing: 'fast', speed: 1,
      content: 'recorded', maxConcurrency: 1, maxTokens: 'recorded', slo: { ttftS: null, tpotS: null }, clock: systemClock,
      fetch: handlerFetch(fake.handler),
      config: { source: path, source_kind: 'trace-db', conversation: null, label: null, api: 'anthropic' },
    });
    expect(res.summary.requests.ok).toBe(4);
    for (const m of fake.messages()) {
      const i = Number(/row-(\d)/.exec(plan.requests.find((p) => p.body && JSON.stringify(p.body.messages) === JSON.stringify(m.body.messages))!.id)![1]);
      const original = JSON.parse(readFileSync(join(FIXTURES, 'claude-code', `${FILES[i]}-2.1.197.json`), 'utf8'));
      expect(m.body).toEqual({ ...original, model: 'local-model', max_tokens: 20, stream: true });
    }
    const rec = Object.fromEntries(res.requests.map((r) => [r.id, r]));
    // The tool-result turn repeats the tool-use turn's prompt (tools, system, messages): mostly cached.
    expect(rec['row-3']!.expected_cached_tokens! / rec['row-3']!.expected_prompt_tokens!).toBeGreaterThan(0.9);
    expect(rec['row-0']!.expected_cached_tokens).toBe(0);
    expect(rec['row-3']!.recorded).toMatchObject({ ttft_ms: 500, api_ms: 2000, output_tokens: 20 });
  });

  it('--api openai converts the same bodies (tools → functions, tool_result → tool messages)', async () => {
    const path = join(dir, 'requests.db');
    const plan = await loadPlan(path, { content: 'recorded', logger: silentLogger });
    const fake = createFakeOpenAI(() => ({ type: 'text', text: 'fine', usage: { prompt_tokens: 100, completion_tokens: 1 } }));
    const res = await runReplay({
      plan, backend: getBackend('openai'), endpoint: 'http://fake', apiKey: 'k', model: 'm', timing: 'fast', speed: 1,
      content: 'recorded', maxConcurrency: 2, maxTokens: 16, slo: { ttftS: null, tpotS: null }, clock: systemClock,
      fetch: handlerFetch(fake.handler),
      config: { source: path, source_kind: 'trace-db', conversation: null, label: null, api: 'openai' },
    });
    expect(res.summary.requests.ok).toBe(4);
    const withTools = fake.requests.filter((r) => Array.isArray(r.body.tools));
    expect(withTools.length).toBeGreaterThanOrEqual(2);
    expect(withTools.every((r) => r.body.tools.every((t: any) => t.type === 'function' && t.function.parameters))).toBe(true);
    expect(fake.requests.some((r) => r.body.messages.some((m: any) => m.role === 'tool'))).toBe(true);
  });
});
