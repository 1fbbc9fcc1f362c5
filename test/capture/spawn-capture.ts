/** Spawns `node bin/trace.js capture …` and resolves once it prints `listening on http://HOST:PORT`. */
import { spawn, type ChildProcess } from 'node:child_process';
import { TRACE_BIN, ROOT } from '../helpers/paths.js';

export interface SpawnedCapture {
  url: string;
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Sends SIGTERM and resolves with the exit code once the process ended. */
  stop(): Promise<number | null>;
  /** SIGKILL, resolves once gone. */
  kill9(): Promise<void>;
}

export async function spawnCapture(args: string[], timeoutMs = 30_000): Promise<SpawnedCapture> {
  const proc = spawn(process.execPath, [TRACE_BIN, 'capture', '--port', '0', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`trace capture did not start: ${out}${err}`));
    }, timeoutMs);
    const check = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out + err);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    };
    proc.stdout!.on('data', check);
    proc.stderr!.on('data', check);
    void exited.then((code) => {
      clearTimeout(t);
      reject(new Error(`trace capture exited (${code}) before listening: ${out}${err}`));
    });
  });
  return {
    url,
    proc,
    stdout: () => out,
    stderr: () => err,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
    async kill9() {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}
