/**
 * The commands on a store of either dialect, in-process: `analyze` reads a Postgres store exactly as it reads the
 * SQLite file the rows came from; `stats`, `prune`, `vacuum` answer in JSON on both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openStore } from '../../src/store/store.js';
import { parseDbTarget } from '../../src/store/target.js';
import type { RequestRowInput } from '../../src/store/requests-repo.js';
import { HAS_POSTGRES, NO_POSTGRES_MESSAGE, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { ROOT } from '../helpers/paths.js';
import { runCli } from '../analyze/run-cli.js';

const EXAMPLE = join(ROOT, 'examples', 'requests.db');
let server: TestPostgres | null = null;
let dir: string;
let exampleRows: RequestRowInput[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trace-store-cli-'));
  const raw = new Database(EXAMPLE, { readonly: true, fileMustExist: true });
  exampleRows = raw.prepare('SELECT * FROM requests').all() as RequestRowInput[];
  raw.close();
  if (HAS_POSTGRES) server = await startPostgres();
  else console.warn(NO_POSTGRES_MESSAGE);
}, 60_000);
afterAll(() => {
  server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function storeWithExample(dialect: 'sqlite' | 'postgres', name: string): Promise<string> {
  const target = dialect === 'sqlite' ? join(dir, `${name}.db`) : server!.createDatabase(name);
  const store = await openStore(parseDbTarget(target, dir));
  await store.insertRequests(exampleRows);
  await store.close();
  return target;
}

function analysis(stdout: string): Record<string, unknown> {
  const j = JSON.parse(stdout) as Record<string, unknown>;
  delete j.source;
  delete j.kind;
  return j;
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe.skipIf(dialect === 'postgres' && !HAS_POSTGRES)(`commands on a ${dialect} store`, () => {
    it('analyze gives the same analysis as the SQLite file the rows came from', async () => {
      const target = await storeWithExample(dialect, 'an');
      const ref = await runCli(['analyze', EXAMPLE, '--json', '--no-store-index', '--tokenizer', 'chars4']);
      expect(ref.code, ref.stderr).toBe(0);
      const got = await runCli(['analyze', target, '--json', '--no-store-index', '--tokenizer', 'chars4']);
      expect(got.code, got.stderr).toBe(0);
      expect(analysis(got.stdout)).toEqual(analysis(ref.stdout));
    });

    it('simulate gives the same result as on the SQLite file the rows came from (Postgres: read a page at a time, twice)', async () => {
      const target = await storeWithExample(dialect, 'sim');
      const args = ['--json', '--tokenizer', 'chars4', '--policy', 'anthropic'];
      const ref = await runCli(['simulate', EXAMPLE, ...args]);
      expect(ref.code, ref.stderr).toBe(0);
      const got = await runCli(['simulate', target, ...args]);
      expect(got.code, got.stderr).toBe(0);
      const strip = (out: string) => {
        const j = JSON.parse(out) as { source: Record<string, unknown>; overall: { requests: number; sim_hit_rate: number } };
        delete j.source.path;
        delete j.source.kind;
        return j;
      };
      const r = strip(got.stdout);
      expect(r).toEqual(strip(ref.stdout));
      expect(r.overall.requests).toBeGreaterThan(30);
      expect(r.overall.sim_hit_rate).toBeGreaterThan(0.5);
    });

    it('stats / prune / vacuum --json', async () => {
      const target = await storeWithExample(dialect, 'ret');
      const stats = await runCli(['stats', target, '--json']);
      expect(stats.code, stats.stderr).toBe(0);
      const s = JSON.parse(stats.stdout) as { rows: number; sessions: number; bodies: { compactionRatio: number } };
      expect(s.rows).toBe(exampleRows.length);
      expect(s.sessions).toBe(new Set(exampleRows.map((r) => r.session_id).filter(Boolean)).size);
      expect(s.bodies.compactionRatio).toBe(1); // raw bodies only
      const times = exampleRows.map((r) => r.started_at_ms!).sort((a, b) => a - b);
      const mid = times[Math.floor(times.length / 2)]!;
      const expected = times.filter((t) => t < mid).length;
      const pr = await runCli(['prune', target, '--before', new Date(mid).toISOString(), '--json']);
      expect(pr.code, pr.stderr).toBe(0);
      expect(JSON.parse(pr.stdout)).toMatchObject({ requests: expected, dryRun: false });
      const vac = await runCli(['vacuum', target, '--json']);
      expect(vac.code, vac.stderr).toBe(0);
      expect(JSON.parse(vac.stdout).bytesAfter).toBeGreaterThan(0);
      const after = JSON.parse((await runCli(['stats', target, '--json'])).stdout) as { rows: number };
      expect(after.rows).toBe(exampleRows.length - expected);
      const bad = await runCli(['prune', target, '--before', 'yesterday-ish']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--before must be a date/);
    });
  });
}
