/**
 * `trace report` of the shipped Claude Code JSONL session (1 parent + 4 Explore sub-agents), opened in headless
 * Chromium: the explorer lists 5 agents with the 4 sub-agents labelled as such and nested under the parent;
 * clicking a request shows its messages and the API vs simulated numbers (checked against the JSONL's usage).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES, HAS_SHARED, TRACE_BIN } from '../helpers/paths.js';
import { HAS_CHROMIUM, SCREENSHOT_DIR, launchBrowser } from '../helpers/browser.js';

const JSONL = join(FIXTURES, 'agentic-coding-analysis', 'jsonl');
const dir = mkdtempSync(join(tmpdir(), 'trace-report-explorer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The usage of one assistant message id as the JSONL files record it (read here, not through our importer). */
function jsonlUsage(messageId: string): { input: number; read: number; creation: number } | null {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.jsonl')) files.push(join(d, e.name));
    }
  };
  walk(JSONL);
  for (const f of files) {
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      if (!line.includes(messageId)) continue;
      try {
        const u = JSON.parse(line)?.message?.usage;
        if (JSON.parse(line)?.message?.id === messageId && u) return { input: u.input_tokens, read: u.cache_read_input_tokens ?? 0, creation: u.cache_creation_input_tokens ?? 0 };
      } catch {
        // a truncated line: the next one of the same message carries the usage too
      }
    }
  }
  return null;
}

describe.skipIf(!HAS_SHARED || !HAS_CHROMIUM)('trace report: conversation explorer in headless Chromium', () => {
  it('shows 5 agents (4 sub-agents nested under main); a click shows messages and API vs simulated usage', async () => {
    const out = join(dir, 'report.html');
    const r = spawnSync(process.execPath, [TRACE_BIN, 'report', JSONL, '--out', out, '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      page.on('request', (q) => !q.url().startsWith('file:') && requests.push(q.url()));
      await page.goto('file://' + out, { waitUntil: 'load' });
      await page.waitForSelector('#explorer li.agent');
      const agents = await page.$$eval('#explorer li.agent', (els) =>
        els.map((e: any) => ({ id: e.dataset.agent, role: e.dataset.role, parent: e.dataset.parent, nestedUnder: e.parentElement.closest('li.agent')?.dataset.agent ?? null, head: e.querySelector('.head').textContent })),
      );
      expect(agents).toHaveLength(5);
      const main = agents.filter((a) => a.role === 'main');
      const subs = agents.filter((a) => a.role === 'sub-agent');
      expect(main).toHaveLength(1);
      expect(subs).toHaveLength(4);
      for (const s of subs) {
        expect(s.nestedUnder).toBe(main[0]!.id);
        expect(s.head).toMatch(/^sub-\d .*sub-agent of main/);
      }
      // The chart legends name the roles too (no sub-agent is "(main)").
      const legend = await page.$$eval('#hit-rate .u-legend .u-series', (els) => els.map((e: any) => e.textContent));
      expect(legend.filter((t: string) => /sub-agent of main/.test(t))).toHaveLength(4);

      // Click the first sub-agent's second request: its messages and the usage table.
      const row = page.locator(`li.agent[data-agent="${subs[0]!.id}"] > table tr.req`).nth(1);
      const id = await row.getAttribute('data-id');
      await row.click();
      await page.waitForSelector('.detail .messages .msg');
      const messages = await page.$$eval('.detail .messages .msg', (els) => els.length);
      expect(messages).toBeGreaterThanOrEqual(3); // prompt, assistant tool call, tool result …
      const usage = await page.$$eval('.detail table.usage tr', (els) => els.map((e: any) => [...e.children].map((c: any) => c.textContent)));
      const cell = (k: string) => usage.find((u: string[]) => u[0] === k)!;
      const expected = jsonlUsage(id!.slice(id!.lastIndexOf(':') + 1))!;
      expect(expected).not.toBeNull();
      const n = (s: string) => Number(s.replace(/,/g, ''));
      expect(n(cell('cache read')[1]!)).toBe(expected.read);
      expect(n(cell('cache write')[1]!)).toBe(expected.creation);
      expect(n(cell('context / input tokens')[1]!)).toBe(expected.input + expected.read + expected.creation);
      expect(cell('hit rate')[1]).toBe(`${((expected.read / (expected.input + expected.read + expected.creation)) * 100).toFixed(1)}%`);
      expect(cell('hit rate')[2]).toMatch(/^\d+\.\d%$/); // simulated
      expect(cell('miss reason')[2]).not.toBe('–');
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      await page.screenshot({ path: join(SCREENSHOT_DIR, 'trace-report-explorer.png'), fullPage: false });
    } finally {
      await browser.close();
    }
  }, 120_000);
});
