import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES, HAS_SHARED, TRACE_BIN } from '../helpers/paths.js';
import { compareToBaseline } from '../../src/pipelines/ci-gate.js';

const SRC = join(FIXTURES, 'agentic-coding-analysis', 'sample_trace_with_subagent.json');
const dir = mkdtempSync(join(tmpdir(), 'trace-ci-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
if (!HAS_SHARED) console.warn('trace ci end-to-end tests skipped: ../shared/fixtures is absent');

const trace = (...args: string[]) => spawnSync(process.execPath, [TRACE_BIN, 'ci', ...args], { encoding: 'utf8' });

describe('compareToBaseline', () => {
  const base = { requests: 10, api_hit_rate: 0.9, sim_hit_rate: 0.8, tokens_per_turn: 1000 };
  it('flags hit-rate drops beyond the tolerance (pp) and tokens-per-turn growth beyond the tolerance (%)', () => {
    const ok = compareToBaseline(base, { ...base, api_hit_rate: 0.895, tokens_per_turn: 1050 }, 1, 10);
    expect(ok.some((c) => c.regressed)).toBe(false);
    const bad = compareToBaseline(base, { ...base, sim_hit_rate: 0.78, tokens_per_turn: 1200 }, 1, 10);
    expect(bad.filter((c) => c.regressed).map((c) => c.metric)).toEqual(['sim_hit_rate', 'tokens_per_turn']);
    expect(bad[1]!.delta).toBeCloseTo(-2, 10);
    // Improvements never regress; a metric the source lacks (null) is not compared.
    const better = compareToBaseline(base, { ...base, api_hit_rate: null, sim_hit_rate: 0.95, tokens_per_turn: 500 }, 1, 10);
    expect(better.some((c) => c.regressed)).toBe(false);
  });
});

describe.skipIf(!HAS_SHARED)('trace ci exit codes (bin/trace.js)', () => {
  const baseline = join(dir, 'baseline.json');

  it('0: --write-baseline, then the same source is within tolerance', () => {
    const w = trace(SRC, '--baseline', baseline, '--write-baseline');
    expect(w.status, w.stderr).toBe(0);
    const b = JSON.parse(readFileSync(baseline, 'utf8'));
    expect(b.version).toBe(1);
    expect(b.metrics.sim_hit_rate).toBeGreaterThan(0.5);
    const r = trace(SRC, '--baseline', baseline, '--json');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).status).toBe('ok');
  });

  it('1: a regression (baseline better than now) prints a table of what regressed', () => {
    const b = JSON.parse(readFileSync(baseline, 'utf8'));
    b.metrics.sim_hit_rate += 0.05; // baseline 5 pp better than the source
    const better = join(dir, 'better.json');
    writeFileSync(better, JSON.stringify(b));
    const r = trace(SRC, '--baseline', better, '--tolerance-pp', '1');
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('sim_hit_rate');
    expect(r.stdout).toContain('REGRESSED');
    expect(r.stdout).not.toContain('tokens_per_turn');
    // Within a wider tolerance it passes.
    expect(trace(SRC, '--baseline', better, '--tolerance-pp', '6').status).toBe(0);
  });

  it('2: missing baseline, corrupt baseline, bad source, bad flag', () => {
    const missing = trace(SRC, '--baseline', join(dir, 'nope.json'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/E_INPUT.*baseline not found/);
    const corrupt = join(dir, 'corrupt.json');
    writeFileSync(corrupt, '{"version": 1, "metrics": ');
    expect(trace(SRC, '--baseline', corrupt).status).toBe(2);
    writeFileSync(corrupt, '{"version": 1, "metrics": {"x": 1}}');
    expect(trace(SRC, '--baseline', corrupt).status).toBe(2);
    const badSource = trace(join(dir, 'no-such-source.db'), '--baseline', baseline);
    expect(badSource.status).toBe(2);
    expect(badSource.stderr).toMatch(/E_SOURCE/);
    expect(trace(SRC, '--baseline', baseline, '--tolerance-pp', 'abc').status).toBe(2);
  });
});
