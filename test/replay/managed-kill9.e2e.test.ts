/**
 * `trace replay --model` killed with SIGKILL (no handler runs) must not leave its bundled server behind: the server
 * is started with `--exit-with-parent` and stdin as a lifeline, so the parent's death closes the pipe and the real
 * `trace serve` shuts down. Checked by pid, with a real tiny GGUF.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ROOT, TRACE_BIN } from '../helpers/paths.js';
import { isAlive } from '../helpers/process.js';

const dir = mkdtempSync(join(tmpdir(), 'trace-managed-kill9-'));
let parent: ChildProcess | undefined;
let serverPid: number | undefined;
afterAll(() => {
  if (parent && parent.exitCode === null && parent.signalCode === null) parent.kill('SIGKILL');
  if (serverPid && isAlive(serverPid)) process.kill(serverPid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('managed server lifeline', () => {
  it('a replay process killed with SIGKILL leaves no bundled server running', async () => {
    const model = join(dir, 'tiny.gguf');
    execFileSync(process.execPath, [TRACE_BIN, 'model', 'tiny', '--out', model, '--context', '1024'], { cwd: dir });
    parent = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'replay', 'managed-parent.ts'), model, join(dir, 'server.log')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    parent.stderr!.on('data', (d) => (err += d));
    const started = await new Promise<{ pid: number; url: string }>((resolve, reject) => {
      parent!.stdout!.on('data', (d) => {
        out += d;
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve(JSON.parse(line) as { pid: number; url: string });
      });
      parent!.once('exit', (c) => reject(new Error(`parent exited (${c}) before the server was ready: ${err}`)));
    });
    serverPid = started.pid;
    expect(isAlive(serverPid)).toBe(true);
    expect((await fetch(`${started.url}/health`)).status).toBe(200);
    parent.kill('SIGKILL');
    await vi.waitFor(() => expect(isAlive(serverPid!)).toBe(false), { timeout: 20_000, interval: 50 });
  }, 90_000);
});
