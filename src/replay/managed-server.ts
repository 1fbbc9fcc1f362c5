import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { systemClock, type Clock } from '../shared/clock.js';
import { AbortedError, EngineError } from '../shared/errors.js';

/**
 * A bundled server (`trace serve … --port 0 --json`) run as a child process for a managed replay: started,
 * awaited until it prints its ready line (bounded), and stopped with SIGTERM, then SIGKILL after a grace period.
 * Its stdout and stderr go to a log file. Every live server is tracked in `liveServers` so the CLI can kill them
 * synchronously on any exit path (`killAllServersSync`).
 */

export interface ManagedServerOptions {
  /** argv prefix that runs the CLI: [node, bin/trace.js] (injected by the CLI). */
  command: string[];
  engine: string;
  model: string;
  ctxSize: number;
  slots?: number | null;
  cacheBytes?: number | null;
  threads?: number | null;
  /** Further `trace serve` flags (e.g. --max-output-tokens). */
  extraArgs?: string[];
  logFile: string;
  /** Bound on spawn → ready (default 10 min: large models load slowly). */
  readyTimeoutMs?: number;
  /** SIGTERM → SIGKILL grace (default 5 s). */
  graceMs?: number;
  signal?: AbortSignal;
  clock?: Clock;
  spawn?: (cmd: string, args: string[], opts: SpawnOptions) => ChildProcess;
  env?: Record<string, string | undefined>;
}

/** The `{event:'ready', …}` JSON line `trace serve --json` prints once listening. */
export interface ServerReady {
  url: string;
  context_size?: number;
  train_context?: number | null;
  [k: string]: unknown;
}

export interface ManagedServer {
  url: string;
  pid: number;
  ready: ServerReady;
  readyMs: number;
  logFile: string;
  /** SIGTERM, wait up to the grace, then SIGKILL; resolves once the process has exited. Idempotent. */
  stop(): Promise<void>;
}

export const liveServers = new Set<ChildProcess>();

/** Kills every live managed server at once (SIGKILL; for process 'exit' handlers, which cannot wait). */
export function killAllServersSync(): void {
  for (const p of liveServers) {
    try {
      p.kill('SIGKILL');
    } catch {
      // already gone: nothing to clean up
    }
  }
  liveServers.clear();
}

export function serveArgs(o: Pick<ManagedServerOptions, 'engine' | 'model' | 'ctxSize' | 'slots' | 'cacheBytes' | 'threads' | 'extraArgs'>): string[] {
  const args = ['serve', '--engine', o.engine, '--model', o.model, '--port', '0', '--json', '--exit-with-parent', '--ctx-size', String(o.ctxSize)];
  if (o.slots != null) args.push('--slots', String(o.slots));
  if (o.cacheBytes != null) args.push('--cache-bytes', String(o.cacheBytes));
  if (o.threads != null) args.push('--threads', String(o.threads));
  return [...args, ...(o.extraArgs ?? [])];
}

function lastLines(text: string, n = 3): string {
  return text.trim().split('\n').slice(-n).join(' | ').slice(-400);
}

/** Parses one stdout line of `trace serve --json`; the ready event or null. */
export function parseReadyLine(line: string): ServerReady | null {
  const t = line.trim();
  if (!t.startsWith('{')) return null;
  try {
    const v = JSON.parse(t) as { event?: string; url?: unknown };
    return v.event === 'ready' && typeof v.url === 'string' ? (v as ServerReady) : null;
  } catch {
    return null;
  }
}

export async function startManagedServer(o: ManagedServerOptions): Promise<ManagedServer> {
  const clock = o.clock ?? systemClock;
  const spawn = o.spawn ?? nodeSpawn;
  const [cmd, ...pre] = o.command;
  if (!cmd) throw new EngineError('no command to start the server with');
  const log: WriteStream = createWriteStream(o.logFile, { flags: 'a' });
  let logError: Error | null = null;
  log.on('error', (e) => (logError ??= e));
  const t0 = clock.monotonic();
  // stdin is the child's lifeline (--exit-with-parent): nothing is written to it, and when this process ends — even
  // by SIGKILL — the pipe closes and the server shuts itself down.
  const proc = spawn(cmd, [...pre, ...serveArgs(o)], { stdio: ['pipe', 'pipe', 'pipe'], env: o.env as NodeJS.ProcessEnv | undefined });
  liveServers.add(proc);
  let tail = '';
  let outBuf = '';
  const exited = new Promise<void>((r) => {
    if (proc.exitCode !== null || proc.signalCode !== null) r();
    proc.once('exit', () => r());
    proc.once('error', () => r());
  });
  void exited.then(() => {
    liveServers.delete(proc);
    log.end();
  });
  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const grace = new Promise<'grace'>((r) => {
          const t = setTimeout(() => r('grace'), o.graceMs ?? 5000);
          void exited.then(() => clearTimeout(t));
        });
        if ((await Promise.race([exited.then(() => 'exited' as const), grace])) === 'grace') {
          proc.kill('SIGKILL');
          await exited;
        }
      }
      liveServers.delete(proc);
    })();
    return stopped;
  };
  const ready = await new Promise<ServerReady>((resolve, reject) => {
    const fail = (e: Error) => {
      cleanup();
      void stop().then(() => reject(e));
    };
    const timer = setTimeout(() => fail(new EngineError(`server for ${o.model} not ready after ${Math.round((o.readyTimeoutMs ?? 600_000) / 1000)} s (log: ${o.logFile}): ${lastLines(tail)}`)), o.readyTimeoutMs ?? 600_000);
    const onAbort = () => fail(new AbortedError('interrupted while the server was starting'));
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const onOut = (d: Buffer) => {
      log.write(d);
      outBuf += d.toString();
      let nl: number;
      while ((nl = outBuf.indexOf('\n')) >= 0) {
        const line = outBuf.slice(0, nl);
        outBuf = outBuf.slice(nl + 1);
        tail = (tail + line + '\n').slice(-4000);
        const r = parseReadyLine(line);
        if (r) {
          cleanup();
          resolve(r);
        }
      }
    };
    const onErr = (d: Buffer) => {
      log.write(d);
      tail = (tail + d.toString()).slice(-4000);
    };
    const onExit = () => {
      cleanup();
      const logNote = logError ? `; log not written: ${logError.message}` : `; log: ${o.logFile}`;
      reject(new EngineError(`server for ${o.model} exited before it was ready (code ${proc.exitCode ?? proc.signalCode}${logNote}): ${lastLines(tail)}`));
    };
    const onSpawnError = (e: Error) => fail(new EngineError(`cannot start the server: ${e.message}`));
    proc.stdout!.on('data', onOut);
    proc.stderr!.on('data', onErr);
    proc.once('exit', onExit);
    proc.once('error', onSpawnError);
    if (o.signal?.aborted) onAbort();
    function cleanup() {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      proc.off('exit', onExit);
      proc.off('error', onSpawnError);
    }
  });
  // stdout/stderr keep flowing into the log file until the server exits.
  return { url: ready.url, pid: proc.pid ?? -1, ready, readyMs: clock.monotonic() - t0, logFile: o.logFile, stop };
}
