/**
 * A real PostgreSQL server for tests (Debian's `postgresql` package, /usr/lib/postgresql/<v>/bin): `initdb` into a
 * temp dir, `pg_ctl start` on a free port (TCP on 127.0.0.1 and a socket in the temp dir), trust auth, stopped and
 * removed by `stop()`. When running as root the cluster belongs to the `postgres` user (initdb refuses root).
 * `POSTGRES_BIN` points elsewhere; `HAS_POSTGRES` is false when no binaries are found (tests skip, saying so).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

function findBin(): string | null {
  if (process.env.POSTGRES_BIN) return existsSync(join(process.env.POSTGRES_BIN, 'initdb')) ? process.env.POSTGRES_BIN : null;
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  const versions = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(base, versions[0]!, 'bin') : null;
}

export const POSTGRES_BIN = findBin();
export const HAS_POSTGRES = POSTGRES_BIN !== null;
export const NO_POSTGRES_MESSAGE = 'PostgreSQL binaries not found (apt-get install postgresql, or set POSTGRES_BIN): Postgres store tests skipped';

export interface TestPostgres {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  readonly url: string;
  readonly port: number;
  /** A fresh, empty database on this server; returns its URL. */
  createDatabase(name: string): string;
  stop(): void;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startPostgres(): Promise<TestPostgres> {
  if (!POSTGRES_BIN) throw new Error(NO_POSTGRES_MESSAGE);
  const bin = POSTGRES_BIN;
  const dir = mkdtempSync(join(tmpdir(), 'trace-pg-'));
  const data = join(dir, 'data');
  const asRoot = userInfo().uid === 0;
  let uid = 0;
  let gid = 0;
  if (asRoot) {
    uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
    chmodSync(dir, 0o700);
  }
  const run = (cmd: string, args: string[]) =>
    execFileSync(join(bin, cmd), args, { stdio: ['ignore', 'pipe', 'pipe'], ...(asRoot ? { uid, gid } : {}), env: { ...process.env, LC_ALL: 'C' } });
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  const port = await freePort();
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
  run('pg_ctl', ['-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
  let stopped = false;
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    createDatabase(name) {
      run('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-qc', `CREATE DATABASE "${name}"`]);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
