/**
 * One MLX worker process and its stdio JSON-lines protocol (mlx-server/worker.py): requests carry an id,
 * replies `{id, ok, result|error}`, generate streams `{id, event, ...}` lines before its reply. Failures of
 * the process reject every pending request with EngineError.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { EngineError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { MlxConfig } from './config.js';

export interface WorkerEvent {
  event: string;
  [k: string]: unknown;
}

interface Pending {
  resolve: (v: Record<string, unknown>) => void;
  reject: (e: Error) => void;
  onEvent?: (e: WorkerEvent) => void;
}

export class WorkerClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private exited = false;
  private stderrTail: string[] = [];
  readonly exitedPromise: Promise<number | null>;

  private constructor(private readonly proc: ChildProcessWithoutNullStreams, private readonly logger: Logger) {
    this.exitedPromise = new Promise((resolve) => {
      const end = (code: number | null, why: string) => {
        if (this.exited) return;
        this.exited = true;
        const err = new EngineError(`mlx worker ${why}${this.stderrTail.length ? ': ' + this.stderrTail.join(' | ') : ''}`);
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        resolve(code);
      };
      proc.on('exit', (code, signal) => end(code, `exited (${signal ?? `code ${code}`})`));
      // spawn failures (no such interpreter) emit 'error' and no 'exit'
      proc.on('error', (e) => end(null, `failed: ${e.message}`));
    });
    proc.stdin.on('error', () => {}); // EPIPE after exit: reported via 'exit'
    createInterface({ input: proc.stderr }).on('line', (l) => {
      this.stderrTail = [...this.stderrTail.slice(-4), l];
      logger.debug(`mlx worker: ${l}`);
    });
    createInterface({ input: proc.stdout }).on('line', (l) => this.onLine(l));
  }

  /** Spawns the worker and waits for its ready line (the model is loaded then) within startTimeoutMs. */
  static async start(config: MlxConfig, logger: Logger): Promise<WorkerClient> {
    const env: Record<string, string | undefined> = { ...config.baseEnv, ...config.env, PYTHONUNBUFFERED: '1' };
    if (config.pythonPath.length) env.PYTHONPATH = [...config.pythonPath, config.baseEnv.PYTHONPATH].filter(Boolean).join(':');
    const proc = spawn(config.python, [config.workerScript, config.modelPath], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const client = new WorkerClient(proc, logger);
    const ready = new Promise<Record<string, unknown>>((resolve, reject) => client.pending.set(0, { resolve, reject }));
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        ready,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new EngineError(`mlx worker did not become ready within ${config.startTimeoutMs} ms`)), config.startTimeoutMs);
        }),
      ]);
      return client;
    } catch (e) {
      client.kill();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  get alive(): boolean {
    return !this.exited;
  }

  request(op: string, payload: Record<string, unknown> = {}, onEvent?: (e: WorkerEvent) => void): { id: number; result: Promise<Record<string, unknown>> } {
    const id = this.nextId++;
    if (this.exited) return { id, result: Promise.reject(new EngineError('mlx worker is not running')) };
    const result = new Promise<Record<string, unknown>>((resolve, reject) => this.pending.set(id, { resolve, reject, ...(onEvent ? { onEvent } : {}) }));
    this.proc.stdin.write(JSON.stringify({ id, op, ...payload }) + '\n');
    return { id, result };
  }

  cancel(target: number): void {
    if (!this.exited) this.proc.stdin.write(JSON.stringify({ op: 'cancel', target }) + '\n');
  }

  /** Asks the worker to exit; SIGKILL after `timeoutMs`. */
  async shutdown(timeoutMs: number): Promise<void> {
    if (this.exited) return;
    this.request('shutdown').result.catch(() => {});
    this.proc.stdin.end();
    const t = setTimeout(() => this.kill(), timeoutMs);
    await this.exitedPromise;
    clearTimeout(t);
  }

  kill(): void {
    if (!this.exited) this.proc.kill('SIGKILL');
  }

  /** Process id (tests kill it to exercise restarts). */
  get pid(): number | undefined {
    return this.proc.pid;
  }

  private onLine(line: string): void {
    let msg: { id?: number | null; ok?: boolean; result?: Record<string, unknown>; error?: string; event?: string; fatal?: boolean };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      this.logger.warn(`mlx worker: non-JSON output: ${line.slice(0, 200)}`);
      return;
    }
    const p = msg.id == null ? undefined : this.pending.get(msg.id);
    if (!p) {
      if (msg.ok === false) this.logger.error(`mlx worker: ${msg.error}`);
      return;
    }
    if (msg.event) {
      p.onEvent?.(msg as WorkerEvent);
      return;
    }
    this.pending.delete(msg.id!);
    if (msg.ok) p.resolve(msg.result ?? {});
    else p.reject(new EngineError(`mlx worker: ${msg.error ?? 'unknown error'}`));
  }
}
