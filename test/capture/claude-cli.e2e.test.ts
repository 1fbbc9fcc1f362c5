/**
 * The real Claude Code CLI (node_modules/.bin/claude), headless, through a real `trace capture` process, to the
 * fake upstream scripted to drive one Read-tool loop. Checks what the proxy recorded against what the upstream saw.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createFakeAnthropic, defaultScript, lastToolResultText, textReply, toolUseReply, type FakeAnthropic } from '../helpers/fake-anthropic.js';
import { spawnCapture, type SpawnedCapture } from './spawn-capture.js';
import type { RequestsTable } from '../../src/store/db-types.js';
import { CLAUDE_BIN as CLAUDE, offlineClaudeEnv, runClaude } from '../helpers/claude-cli.js';

const SECRET = 'The secret word is pineapple-42.';

let fake: FakeAnthropic | undefined;
let cap: SpawnedCapture | undefined;
let dir: string | undefined;
afterEach(async () => {
  await cap?.kill9();
  await fake?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  cap = fake = dir = undefined;
});


const isMainLoop = (body: any) => Array.isArray(body?.tools) && body.tools.some((t: any) => t?.name === 'Read');

describe.skipIf(!existsSync(CLAUDE))('real Claude Code CLI through trace capture', () => {
  it('records a Read tool loop: every upstream /v1/messages request has a complete row', async () => {
    dir = mkdtempSync(join(tmpdir(), 'trace-claude-e2e-'));
    const project = join(dir, 'project');
    const home = join(dir, 'home');
    mkdirSync(project);
    mkdirSync(home);
    const hello = join(project, 'hello.txt');
    writeFileSync(hello, `${SECRET}\n`);

    fake = createFakeAnthropic({
      script: (body, index, seen) => {
        if (!isMainLoop(body)) return defaultScript(body, index, seen); // title / quota / side requests
        const result = lastToolResultText(body);
        if (result === undefined) {
          return toolUseReply('Read', { file_path: hello }, { text: 'Let me read the file.', usage: { input_tokens: 40, cache_creation_input_tokens: 9000 } });
        }
        return textReply(`The file says: ${result}`, { usage: { input_tokens: 60, cache_read_input_tokens: 9000 } });
      },
    });
    await fake.listen();
    const db = join(dir, 'requests.db');
    cap = await spawnCapture(['--upstream', fake.url, '--db', db]);

    const run = await runClaude(
      ['-p', 'Read the file hello.txt', '--allowedTools', 'Read', '--output-format', 'stream-json', '--verbose'],
      project,
      {
        ...offlineClaudeEnv(cap.url, home, 'sk-ant-fake-e2e-key'),
      },
      150_000,
    );
    expect(run.code, `claude failed: ${run.stderr}\n${run.stdout.slice(-2000)}`).toBe(0);
    expect(run.stdout).toContain('pineapple-42');
    const final = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; subtype?: string; result?: string })
      .find((e) => e.type === 'result');
    expect(final?.subtype).toBe('success');
    expect(final?.result).toContain(SECRET);

    // Stop the proxy cleanly so every row is final, then compare with what the upstream saw.
    expect(await cap.stop()).toBe(0);
    const upstreamMessages = fake.messages();
    const main = upstreamMessages.filter((r) => isMainLoop(r.body));
    expect(main).toHaveLength(2); // tool_use turn + tool_result turn, no replays
    expect(main.every((r) => r.body.stream === true)).toBe(true);
    expect(lastToolResultText(main[1]!.body)).toContain(SECRET);

    const rdb = new Database(db, { readonly: true });
    const rows = rdb.prepare("SELECT * FROM requests WHERE endpoint = '/v1/messages' ORDER BY seq").all() as RequestsTable[];
    const all = rdb.prepare('SELECT count(*) AS n FROM requests').get() as { n: number };
    rdb.close();
    expect(rows).toHaveLength(upstreamMessages.length);
    expect(all.n).toBe(fake.requests.length);
    for (const r of rows) {
      expect(r.state).toBe('complete');
      expect(r.status).toBe(200);
      expect(r.ttft_ms).not.toBeNull();
      expect(r.input_tokens).not.toBeNull();
      expect(r.output_tokens).not.toBeNull();
      expect(r.session_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.user_agent).toMatch(/^claude-cli\//);
      expect(r.headers).not.toContain('sk-ant-fake-e2e-key');
    }
    // The raw bodies the proxy stored are the bytes the upstream received.
    expect(rows.map((r) => r.body)).toEqual(upstreamMessages.map((r) => r.bodyText));
    const mainRows = rows.filter((r) => isMainLoop(JSON.parse(r.body)));
    expect(mainRows.map((r) => r.stop_reason)).toEqual(['tool_use', 'end_turn']);
    expect(mainRows[0]!.cache_creation_input_tokens).toBe(9000);
    expect(mainRows[1]!.cache_read_input_tokens).toBe(9000);
    expect(new Set(mainRows.map((r) => r.session_id)).size).toBe(1);
  }, 200_000);
});
