/**
 * The real Claude Code CLI through `trace capture --ui`, with the live page open in headless Chromium: every
 * /v1/messages request the proxy records appears on the page while it is still in flight (server push, not a
 * reload after the fact), the sub-agent the main loop spawns is nested under its parent, and every row ends in its
 * recorded state.
 *
 * No timing threshold: the fake upstream holds each reply until the page shows that request in flight — a pending
 * row whose stored request (message count, tool names) is the one held, each row matched once — bounded by GATE_MS,
 * after which it answers anyway and the assertion names the request the page never showed in flight. The lateness page-vs-row is printed, measured, for the record; the figure that
 * matters for a user (added TTFT with browsers attached) is in `npm run bench live-view`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { BrowserContext } from 'playwright-core';
import { createFakeAnthropic, defaultScript, lastToolResultText, textReply, toolUseReply, type FakeAnthropic } from '../helpers/fake-anthropic.js';
import { spawnCapture, type SpawnedCapture } from '../capture/spawn-capture.js';
import { CLAUDE_BIN, offlineClaudeEnv, runClaude, makeClaudeProject } from '../helpers/claude-cli.js';
import { HAS_CHROMIUM, SCREENSHOT_DIR, launchBrowser } from '../helpers/browser.js';

let fake: FakeAnthropic | undefined;
let cap: SpawnedCapture | undefined;
let browser: BrowserContext | undefined;
let dir: string | undefined;
afterEach(async () => {
  await browser?.close();
  await cap?.kill9();
  await fake?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  browser = cap = fake = dir = undefined;
});

const GATE_MS = 30_000;
const SUB_PROMPT = 'Read hello.txt and report the secret word. (live-view sub-agent)';
const toolNames = (body: any): string[] => (Array.isArray(body?.tools) ? body.tools.map((t: any) => t?.name) : []);
const firstUserText = (body: any): string => {
  const c = body?.messages?.[0]?.content;
  return typeof c === 'string' ? c : Array.isArray(c) ? c.map((b: any) => b?.text ?? '').join('\n') : '';
};

describe.skipIf(!existsSync(CLAUDE_BIN) || !HAS_CHROMIUM)('live view: the real Claude Code CLI through trace capture --ui', () => {
  it('shows each request while it is in flight, sub-agents nested under their parent', async () => {
    dir = mkdtempSync(join(tmpdir(), 'trace-live-e2e-'));
    const { project, home, hello } = makeClaudeProject(dir);
    // Set once the page is open: resolves when the page shows this request in flight (or after GATE_MS).
    let shownInFlight: (body: any) => Promise<void> = async () => {};
    const reply = (body: any, index: number, seen: any) => {
        if (firstUserText(body).includes('live-view sub-agent')) {
          // The sub-agent: one Read, then its answer.
          const result = lastToolResultText(body);
          return result === undefined ? toolUseReply('Read', { file_path: hello }, { usage: { input_tokens: 30, cache_creation_input_tokens: 4000 } }) : textReply(`Found: ${result}`, { usage: { input_tokens: 50, cache_read_input_tokens: 4000 } });
        }
        if (!toolNames(body).includes('Agent')) return defaultScript(body, index, seen);
        const result = lastToolResultText(body);
        if (result === undefined) {
          return toolUseReply('Agent', { description: 'read the file', prompt: SUB_PROMPT, subagent_type: 'general-purpose' }, { text: 'Delegating.', usage: { input_tokens: 40, cache_creation_input_tokens: 9000 } });
        }
        return textReply(`Done: ${result}`, { usage: { input_tokens: 60, cache_read_input_tokens: 9000 } });
    };
    fake = createFakeAnthropic({
      script: async (body, index, seen) => {
        await shownInFlight(body);
        return reply(body, index, seen);
      },
    });
    await fake.listen();
    const db = join(dir, 'requests.db');
    cap = await spawnCapture(['--upstream', fake.url, '--db', db, '--ui']);
    expect(cap.stdout()).toContain(`live view: ${cap.url}/_trace/`);

    browser = await launchBrowser();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${cap.url}/_trace/`);
    await page.waitForFunction(() => (globalThis as any).document.getElementById('conn').textContent.startsWith('live'));
    // Record (in the page, by its clock = this machine's) when each request's row first appears in the DOM, and
    // which rows the page showed while they were in flight (class "pending").
    await page.evaluate(() => {
      const g = globalThis as any;
      g.firstSeen = {};
      g.inFlight = {};
      const note = () => {
        for (const tr of g.document.querySelectorAll('tr.req[data-id]')) {
          g.firstSeen[tr.dataset.id] ??= Date.now();
          if (tr.classList.contains('pending')) g.inFlight[tr.dataset.id] ??= Date.now();
        }
      };
      new g.MutationObserver(note).observe(g.document.getElementById('explorer'), { childList: true, subtree: true, attributes: true });
    });
    // A held reply is released once the page shows, in flight, a row whose stored request is this one (same message
    // count and tool names, per the live view's own request API), not claimed by an earlier reply.
    const claimed = new Set<string>();
    const fingerprint = (messages: number, tools: string[]) => `${messages}|${tools.join(',')}`;
    shownInFlight = async (body: any) => {
      const want = fingerprint(Array.isArray(body?.messages) ? body.messages.length : 0, toolNames(body));
      const deadline = Date.now() + GATE_MS;
      while (Date.now() < deadline) {
        const ids = await page.evaluate(() => [...(globalThis as any).document.querySelectorAll('tr.req.pending[data-id]')].map((e: any) => e.dataset.id as string));
        for (const id of ids) {
          if (claimed.has(id)) continue;
          const res = await fetch(`${cap!.url}/_trace/api/requests/${encodeURIComponent(id)}`);
          if (!res.ok) continue;
          const d = (await res.json()) as { messages: unknown[]; tools: { name: string }[] };
          if (fingerprint(d.messages.length, d.tools.map((t) => t.name)) === want) {
            claimed.add(id);
            return;
          }
        }
        await new Promise((r) => setTimeout(r, 20));
      } // past the deadline it answers anyway: the assertion below names the request never shown in flight
    };

    const run = await runClaude(['-p', 'Use the Agent tool to read hello.txt', '--allowedTools', 'Agent,Read', '--output-format', 'stream-json', '--verbose'], project, offlineClaudeEnv(cap.url, home), 180_000);
    expect(run.code, `claude failed: ${run.stderr}\n${run.stdout.slice(-2000)}`).toBe(0);
    expect(run.stdout).toContain('pineapple-42');

    // Every recorded row on the page, in its final state.
    const rdb = new Database(db, { readonly: true });
    const rows = rdb.prepare('SELECT id, started_at_ms, state, endpoint FROM requests ORDER BY seq').all() as { id: string; started_at_ms: number; state: string; endpoint: string }[];
    rdb.close();
    expect(rows.length).toBeGreaterThanOrEqual(4);
    await page.waitForFunction((n) => (globalThis as any).document.querySelectorAll('tr.req:not(.pending)').length >= n, rows.length, { timeout: 30_000 });
    const { firstSeen, inFlight } = (await page.evaluate(() => ({ firstSeen: (globalThis as any).firstSeen, inFlight: (globalThis as any).inFlight }))) as Record<string, Record<string, number>>;
    // The page itself asks the proxy for nothing (no favicon request forwarded upstream and recorded).
    expect(rows.filter((r) => r.endpoint === '/favicon.ico')).toEqual([]);
    const messages = rows.filter((r) => r.endpoint === '/v1/messages');
    expect(messages.length).toBeGreaterThanOrEqual(4);
    expect(messages.filter((r) => inFlight[r.id] === undefined).map((r) => r.id), 'requests the page never showed in flight').toEqual([]);
    const lateness = rows.map((r) => `${r.endpoint} ${firstSeen[r.id]! - r.started_at_ms}`);
    console.log(`live view: row → page lateness (ms, this machine, measured): ${lateness.join(', ')}`);
    const states = await page.$$eval('tr.req', (els) => Object.fromEntries(els.map((e: any) => [e.dataset.id, e.className.includes('complete') ? 'complete' : e.className])));
    for (const r of rows) expect(states[r.id]).toBe(r.state === 'complete' ? 'complete' : expect.stringContaining(r.state));

    // The sub-agent is nested under the agent that spawned it.
    const agents = await page.$$eval('#explorer li.agent', (els) => els.map((e: any) => ({ id: e.dataset.agent, role: e.dataset.role, parent: e.dataset.parent, nestedUnder: e.parentElement.closest('li.agent')?.dataset.agent ?? null })));
    const subs = agents.filter((a) => a.role === 'sub-agent');
    expect(subs.length).toBeGreaterThanOrEqual(1);
    for (const s of subs) expect(s.nestedUnder).toBe(s.parent);
    expect(agents.some((a) => a.role === 'main' && subs.some((s) => s.parent === a.id))).toBe(true);

    // A click shows the request's messages, as stored (the API key never appears).
    const subRow = page.locator(`li.agent[data-agent="${subs[0]!.id}"] > table tr.req`).first();
    await subRow.click();
    await page.waitForSelector('.detail .messages .msg');
    expect(await page.textContent('.detail .messages')).toContain('live-view sub-agent');
    expect(await page.content()).not.toContain('sk-ant-fake');
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'trace-live-view.png') });
    expect(errors).toEqual([]);
    expect(await cap.stop()).toBe(0);
  }, 240_000);
});
