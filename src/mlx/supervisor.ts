/**
 * Keeps one MLX worker running: starts it (health check = ready line + `info` answer), restarts it after a
 * crash with exponential backoff (restartBaseMs × 2^n, capped), gives up after maxRestarts consecutive
 * failures, and shuts it down cleanly. `onRestart` tells the engine that the worker's prompt caches are gone.
 */
import { EngineError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { MlxConfig } from './config.js';
import { WorkerClient } from './worker-client.js';

export interface WorkerInfo {
  model_id: string;
  context_size: number;
  kv_bytes_per_token: number;
  stop_tokens: number[];
  chat_template: string | null;
  bos_token?: string | null;
  eos_token?: string | null;
}

export class MlxSupervisor {
  private client: WorkerClient | undefined;
  private starting: Promise<WorkerClient> | undefined;
  private failures = 0;
  private closed = false;
  private restartTimer: NodeJS.Timeout | undefined;
  restarts = 0;
  info: WorkerInfo | undefined;
  onRestart: () => void = () => {};

  constructor(private readonly config: MlxConfig, private readonly logger: Logger) {}

  /** First start: failures are thrown (bad model path, no mlx_lm) rather than retried. */
  async start(): Promise<WorkerInfo> {
    await this.get();
    return this.info!;
  }

  /** A running worker; waits for a (re)start in progress. */
  async get(): Promise<WorkerClient> {
    if (this.closed) throw new EngineError('mlx engine is closed');
    if (this.client?.alive) return this.client;
    this.starting ??= this.spawn().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async spawn(): Promise<WorkerClient> {
    const client = await WorkerClient.start(this.config, this.logger);
    const info = (await client.request('info').result) as unknown as WorkerInfo;
    this.info = info;
    this.client = client;
    const startedAt = Date.now();
    void client.exitedPromise.then((code) => {
      if (this.closed || this.client !== client) return;
      this.client = undefined;
      this.onRestart();
      // a worker that ran a while before crashing resets the failure count
      this.failures = Date.now() - startedAt > 30_000 ? 1 : this.failures + 1;
      if (this.failures > this.config.maxRestarts) {
        this.logger.error(`mlx worker crashed ${this.failures} times in a row (last exit code ${code}); giving up`);
        return;
      }
      const delay = Math.min(this.config.restartMaxMs, this.config.restartBaseMs * 2 ** (this.failures - 1));
      this.logger.warn(`mlx worker exited (code ${code}); restarting in ${delay} ms`);
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        if (this.closed || this.client) return;
        this.restarts++;
        this.starting ??= this.spawn()
          .catch((e: unknown) => {
            this.logger.error(`mlx worker restart failed: ${e instanceof Error ? e.message : String(e)}`);
            throw e;
          })
          .finally(() => (this.starting = undefined));
        this.starting.catch(() => {});
      }, delay);
    });
    return client;
  }

  /** Whether a worker is up right now (for health endpoints). */
  get healthy(): boolean {
    return Boolean(this.client?.alive);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    const c = this.client ?? (await this.starting?.catch(() => undefined));
    this.client = undefined;
    await c?.shutdown(this.config.shutdownTimeoutMs);
  }
}
