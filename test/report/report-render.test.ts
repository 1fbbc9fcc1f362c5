import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { HAS_CHROMIUM, launchBrowser } from '../helpers/browser.js';
import { FIXTURES, HAS_SHARED, TRACE_BIN } from '../helpers/paths.js';
import { REPORT_CHARTS } from '../../src/report/html-report.js';

const JSONL = join(FIXTURES, 'agentic-coding-analysis', 'jsonl');
const dir = mkdtempSync(join(tmpdir(), 'trace-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

if (!HAS_SHARED) console.warn('report test skipped: ../shared/fixtures is absent');

describe.skipIf(!HAS_SHARED)('trace report', () => {
  const out = join(dir, 'report.html');
  it('writes one self-contained HTML file (uPlot inlined, no external resources)', () => {
    const r = spawnSync(process.execPath, [TRACE_BIN, 'report', JSONL, '--out', out, '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { out: string; requests: number; agents: number };
    expect(summary.out).toBe(out);
    expect(summary.agents).toBe(5); // parent + 4 Explore sub-agents
    const html = readFileSync(out, 'utf8');
    expect(html).toContain('uPlot');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\/[^\s"')]+\.(js|css)/);
    for (const id of REPORT_CHARTS) expect(html).toContain(`id="${id}"`);
  });

  it.skipIf(!HAS_CHROMIUM)('renders in headless Chromium: no console errors, every chart canvas has pixels', async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('request', (r) => {
        if (!r.url().startsWith('file:')) requests.push(r.url());
      });
      await page.goto('file://' + out, { waitUntil: 'load' });
      expect(errors).toEqual([]); // a script error would otherwise only show up as a timeout below
      // Runs in the page (no DOM types in this project's lib): reach the DOM through globalThis.
      await page.waitForFunction((n) => (globalThis as any).document.querySelectorAll('canvas').length >= n, REPORT_CHARTS.length, { timeout: 10_000 });
      const painted = await page.evaluate((ids) => {
        return ids.map((id) => {
          const c = (globalThis as any).document.querySelector(`#${id} canvas`);
          if (!c) return { id, pixels: -1 };
          const ctx = c.getContext('2d');
          const px: Uint8ClampedArray = ctx.getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 3; i < px.length; i += 4) if (px[i]! > 0) n++;
          return { id, pixels: n };
        });
      }, [...REPORT_CHARTS]);
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      for (const p of painted) expect(p.pixels, `chart ${p.id}`).toBeGreaterThan(500);
      await page.screenshot({ path: join(tmpdir(), 'trace-report-screenshot.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
