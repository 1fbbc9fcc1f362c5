/**
 * End to end: the real Claude Code CLI → `trace capture` → a scripted fake Anthropic upstream. The parent calls
 * the Agent tool, the sub-agent runs a Read-tool loop and answers, the parent answers. Then the captured DB is
 * analysed twice — structural linking only, and with --jsonl-dir pointing at the JSONL the CLI wrote under
 * $HOME/.claude/projects — and the two linkings must agree (same agent partition, same parent agent, same
 * spawning request, same turn order) on every request both know.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/paths.js';
import { createFakeAnthropic, defaultScript, lastToolResultText, textReply, toolUseReply, type FakeScript } from '../helpers/fake-anthropic.js';
import { spawnCapture } from '../capture/spawn-capture.js';
import { openDb } from '../../src/store/db.js';
import { readConversationIndex, type ConversationIndexRow } from '../../src/store/conversation-index-repo.js';
import { getRequest } from '../../src/store/requests-repo.js';
import { runCli } from './run-cli.js';
import { CLAUDE_BIN as CLAUDE, offlineClaudeEnv } from '../helpers/claude-cli.js';

const HAS_CLAUDE = existsSync(CLAUDE);
const SUB_PROMPT = 'Read the file hello.txt in the current directory and report its exact contents.';

const root = mkdtempSync(join(tmpdir(), 'trace-e2e-link-'));
afterAll(() => {
  if (!process.env.TRACE_KEEP_E2E) rmSync(root, { recursive: true, force: true });
});

function firstUserText(body: any): string {
  const m = (body?.messages ?? []).find((x: any) => x.role === 'user');
  if (!m) return '';
  return typeof m.content === 'string' ? m.content : (m.content ?? []).map((b: any) => (b?.type === 'text' ? b.text : '')).join('\n');
}

function runClaude(args: string[], env: Record<string, string>, cwd: string, timeoutMs: number): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(CLAUDE, args, { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out, err });
    });
  });
}

describe.skipIf(!HAS_CLAUDE)('structural linking vs the JSONL the real CLI wrote', () => {
  it('agree on agents, parents and spawns for an Agent-tool session with a sub-agent Read loop', { timeout: 180_000 }, async () => {
    const home = join(root, 'home');
    const work = join(root, 'work');
    mkdirSync(home, { recursive: true });
    mkdirSync(work, { recursive: true });
    writeFileSync(join(work, 'hello.txt'), 'Hello, probe! The secret word is pineapple.\n');
    const dbPath = join(root, 'requests.db');

    const script: FakeScript = (body) => {
      if (body?.output_config?.format?.type === 'json_schema' || !Array.isArray(body?.tools) || body.tools.length === 0) return defaultScript(body, 0, undefined as never);
      const result = lastToolResultText(body);
      if (firstUserText(body).includes(SUB_PROMPT)) {
        return result === undefined ? toolUseReply('Read', { file_path: join(work, 'hello.txt') }, { text: 'Reading it.' }) : textReply(`The file says: ${result.slice(0, 60)}`);
      }
      return result === undefined
        ? toolUseReply('Agent', { description: 'Read hello.txt', prompt: SUB_PROMPT, subagent_type: 'general-purpose' })
        : textReply('The sub-agent reports the secret word is pineapple.');
    };
    const fake = createFakeAnthropic({ script });
    await fake.listen(0, '127.0.0.1');
    const cap = await spawnCapture(['--upstream', fake.url, '--db', dbPath]);
    let claude;
    try {
      claude = await runClaude(
        ['-p', 'Use the Agent tool (general-purpose) to read hello.txt, then tell me the secret word.', '--output-format', 'stream-json', '--verbose', '--allowedTools', 'Read', 'Agent'],
        {
          ...offlineClaudeEnv(cap.url, home, 'sk-ant-fake-key'),
        },
        work,
        150_000,
      );
    } finally {
      await cap.stop();
      await fake.close();
    }
    expect(claude.code, claude.err + claude.out.slice(-2000)).toBe(0);
    const seen = fake.messages().map((s) => firstUserText(s.body).includes(SUB_PROMPT));
    expect(seen.filter(Boolean).length).toBeGreaterThanOrEqual(2); // sub-agent: Read, then answer

    const structural = await runCli(['analyze', dbPath, '--json', '--tokenizer', 'chars4']);
    expect(structural.code, structural.stderr).toBe(0);
    const s = JSON.parse(structural.stdout);
    const db = openDb(dbPath);
    const sIdx = readConversationIndex(db);
    db.close();

    const projects = join(home, '.claude', 'projects');
    const withJsonl = await runCli(['analyze', dbPath, '--json', '--tokenizer', 'chars4', '--jsonl-dir', projects]);
    expect(withJsonl.code, withJsonl.stderr).toBe(0);
    const j = JSON.parse(withJsonl.stdout);
    const db2 = openDb(dbPath);
    const jIdx = readConversationIndex(db2);
    const msgOf = (id: string) => getRequest(db2, id)?.message_id ?? null;

    // The JSONL knows every main-conversation API call (title/side requests are not in it).
    expect(j.jsonl.matched).toBeGreaterThanOrEqual(4);
    expect(j.jsonl.unmatched).toBe(0);
    const linked = [...jIdx.values()].filter((r) => r.linkedBy === 'jsonl');
    expect(linked.length).toBe(j.jsonl.matched);

    // Same structure both ways: 1 main + 1 sub-agent.
    for (const r of [s, j]) {
      expect(r.totals.mainAgents).toBe(1);
      expect(r.totals.subagents).toBe(1);
    }
    // Agent partition: requests grouped by agent must be identical.
    const partition = (idx: Map<string, ConversationIndexRow>, ids: string[]) => {
      const groups = new Map<string, string[]>();
      for (const id of ids) {
        const a = idx.get(id)!.agentId;
        groups.set(a, [...(groups.get(a) ?? []), id]);
      }
      return [...groups.values()].map((g) => g.sort().join(',')).sort();
    };
    const ids = linked.map((r) => r.id);
    expect(partition(sIdx, ids)).toEqual(partition(jIdx, ids));
    for (const id of ids) {
      const a = sIdx.get(id)!;
      const b = jIdx.get(id)!;
      expect(a.isSubagent, id).toBe(b.isSubagent);
      expect(a.turnIndex, id).toBe(b.turnIndex);
      expect(a.parentRequestId, id).toBe(b.parentRequestId);
      expect(a.spawnedByRequestId, id).toBe(b.spawnedByRequestId);
      // The parent agent is the agent of the same request under both linkings.
      const pa = (idx: Map<string, ConversationIndexRow>, r: ConversationIndexRow) =>
        r.parentAgentId === null ? null : [...idx.values()].find((x) => x.agentId === r.parentAgentId && x.turnIndex === 0)?.id;
      expect(pa(sIdx, a), id).toBe(pa(jIdx, b));
    }
    const sub = ids.filter((id) => sIdx.get(id)!.isSubagent);
    expect(sub.length).toBeGreaterThanOrEqual(2);
    expect(sIdx.get(sub.find((id) => sIdx.get(id)!.turnIndex === 0)!)!.linkedBy).toBe('spawn');
    expect(ids.every((id) => msgOf(id))).toBe(true);
    db2.close();
  });
});
