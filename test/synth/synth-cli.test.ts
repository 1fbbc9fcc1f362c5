import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CliContext } from '../../src/cli/context.js';
import { ManualClock } from '../../src/shared/clock.js';
import { silentLogger } from '../../src/shared/logger.js';
import { openSource } from '../../src/store/sources/index.js';
import { contextTokens } from '../../src/shared/anthropic.js';
import { TRACE_BIN } from '../helpers/paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'trace-synth-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function ctx(): CliContext & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (t) => void out.push(t),
    stderr: (t) => void err.push(t),
    env: {},
    cwd: tmp,
    isTTY: false,
    clock: new ManualClock(0),
    logger: silentLogger,
    interrupted: new AbortController().signal,
    onShutdown: () => {},
  };
}

describe('trace synth (CLI)', () => {
  it('writes the database and prints the documented --json summary', async () => {
    const c = ctx();
    const code = await main(['node', 'trace', 'synth', '--out', 'x.db', '--seed', '3', '--sessions', '1', '--subagents', '2', '--turns', '2', '--json'], c);
    expect(code).toBe(0);
    const s = JSON.parse(c.out.join('')) as Record<string, unknown>;
    expect(Object.keys(s).sort()).toEqual(
      ['out', 'bytes', 'seed', 'sessions', 'subagentsPerSession', 'turnsPerSession', 'requests', 'byKind', 'brokenStreams', 'firstStartedAtMs', 'lastEndedAtMs', 'usage', 'requestBytes', 'simulated'].sort(),
    );
    expect(s.out).toBe(join(tmp, 'x.db'));
    expect(s.simulated).toBe(true);
    expect((s.byKind as Record<string, number>).subagent).toBeGreaterThanOrEqual(2);
    expect((s.byKind as Record<string, number>).title).toBe(1);
  });

  it('the trace-db importer reads the synthetic rows back with their usage and bodies', async () => {
    const c = ctx();
    expect(await main(['node', 'trace', 'synth', '--out', 'y.db', '--seed', '4', '--sessions', '2', '--subagents', '3', '--turns', '2', '--json'], c)).toBe(0);
    const summary = JSON.parse(c.out.join('')) as { requests: number; usage: Record<string, number> };
    const src = openSource(join(tmp, 'y.db'), { logger: silentLogger });
    try {
      expect(src.kind).toBe('trace-db');
      const reqs = [...src.requests()];
      expect(reqs).toHaveLength(summary.requests);
      let read = 0;
      for (const r of reqs) {
        expect(r.body?.messages.length).toBeGreaterThan(0);
        expect(r.userAgent).toMatch(/^trace-synth\//);
        expect(r.usage).not.toBeNull();
        read += r.usage!.cache_read_input_tokens;
        expect(contextTokens(r.usage!)).toBeGreaterThan(0);
      }
      expect(read).toBe(summary.usage.cache_read_input_tokens);
    } finally {
      src.close();
    }
  });

  it('rejects bad flags and an existing file with exit code 2 / 1', async () => {
    const c = ctx();
    expect(await main(['node', 'trace', 'synth', '--out', 'z.db', '--sessions', '0'], c)).toBe(2);
    expect(c.err.join('')).toMatch(/--sessions/);
    expect(await main(['node', 'trace', 'synth', '--out', 'z.db', '--turns', '1', '--subagents', '0'], ctx())).toBe(0);
    const again = ctx();
    expect(await main(['node', 'trace', 'synth', '--out', 'z.db'], again)).toBe(1);
    expect(again.err.join('')).toMatch(/already exists/);
  });

  it('runs through bin/trace.js (compiled dist)', () => {
    const out = execFileSync(process.execPath, [TRACE_BIN, 'synth', '--out', join(tmp, 'bin.db'), '--sessions', '1', '--subagents', '1', '--turns', '1', '--json'], { encoding: 'utf8' });
    expect((JSON.parse(out) as { requests: number }).requests).toBeGreaterThanOrEqual(3);
  });
});
