/** The body codec's SegmentStore contract on the store's body_segments table, SQLite and a real Postgres. */
import { afterAll, beforeAll, describe } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../src/store/store.js';
import { parseDbTarget } from '../../src/store/target.js';
import { KyselySegmentStore } from '../../src/store/segment-store.js';
import { HAS_POSTGRES, NO_POSTGRES_MESSAGE, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { segmentStoreContract } from './segment-store-contract.js';

let server: TestPostgres | null = null;
let dir: string;
let n = 0;
const open: Store[] = [];
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trace-segments-'));
  if (HAS_POSTGRES) server = await startPostgres();
  else console.warn(NO_POSTGRES_MESSAGE);
}, 60_000);
afterAll(async () => {
  for (const s of open) await s.close();
  server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function fresh(dialect: 'sqlite' | 'postgres'): Promise<KyselySegmentStore> {
  const target = dialect === 'sqlite' ? join(dir, `s${++n}.db`) : server!.createDatabase(`seg${++n}`);
  const store = await openStore(parseDbTarget(target, dir));
  open.push(store);
  return new KyselySegmentStore(store.db);
}

describe('sqlite body_segments', () => segmentStoreContract('sqlite', () => fresh('sqlite')));
describe.skipIf(!HAS_POSTGRES)('postgres body_segments', () => segmentStoreContract('postgres', () => fresh('postgres')));
