/**
 * The live view's state: requests as they arrive (from capture's row observer, or read from a finished source),
 * reduced to facts, linked into conversations / agents / sub-agents, and pushed to browsers over SSE.
 *
 * Capture never waits for it: `onRow` only files the row and schedules work (a timer, batched); each browser has a
 * bounded queue, and a browser that does not keep up loses events and is told to reload the model (`resync`)
 * instead of growing memory or slowing anyone down.
 */
import { Interner, extractFacts, type RequestFacts } from '../analyze/request-facts.js';
import { buildConversationIndex } from '../analyze/conversation-index.js';
import { rowToTraceRequest } from '../store/sources/requests-row.js';
import type { RequestRowInput } from '../store/requests-repo.js';
import type { RequestsTable } from '../store/db-types.js';
import type { TraceRequest } from '../shared/trace-record.js';
import type { Logger } from '../shared/logger.js';
import { errorMessage } from '../shared/errors.js';
import { buildExplorerModel, type ExplorerModel, type ExplorerRequest } from '../report/explorer/explorer-model.js';

export interface LiveHubOptions {
  logger: Logger;
  /** Events a browser may have queued before it is considered slow (default 256). */
  maxQueue?: number;
  /** Batching delay between a row and its push (ms, default 20). */
  batchMs?: number;
  /** Whether this hub is fed live (capture) or holds a finished source (view). */
  live?: boolean;
}

interface Client {
  controller: ReadableStreamDefaultController<Uint8Array>;
  lagged: boolean;
}

const enc = new TextEncoder();
const sse = (event: string, data: unknown) => enc.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);

export class LiveHub {
  private readonly facts = new Map<string, RequestFacts>();
  private readonly states = new Map<string, ExplorerRequest['state']>();
  private readonly interner = new Interner();
  private readonly dirty = new Map<string, { row?: RequestRowInput; request?: TraceRequest; state: ExplorerRequest['state'] }>();
  private readonly clients = new Set<Client>();
  private timer: NodeJS.Timeout | null = null;
  private model: ExplorerModel;
  private sent = new Map<string, string>();
  private heartbeat: NodeJS.Timeout | null = null;
  readonly counters = { rows: 0, badRows: 0, pushed: 0, dropped: 0, resyncs: 0 };

  constructor(private readonly o: LiveHubOptions) {
    this.model = { live: o.live ?? true, agents: [], requests: [], hasContent: true };
  }

  /** Capture's row observer: files the row and returns (the work happens in a batch, off the request path). */
  onRow = (e: { phase: 'started' | 'completed'; row: RequestRowInput }): void => {
    this.counters.rows++;
    const state = e.phase === 'started' ? 'pending' : ((e.row.state ?? 'complete') as ExplorerRequest['state']);
    // A completion may arrive in the same batch as its start: the latest row wins.
    this.dirty.set(e.row.id, { row: e.row, state });
    this.schedule();
  };

  /** Adds a request read from a source (trace view). */
  addRequest(r: TraceRequest, state: ExplorerRequest['state'] = r.error ? 'error' : 'complete'): void {
    this.dirty.set(r.id, { request: r, state });
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), this.o.batchMs ?? 20);
    this.timer.unref?.();
  }

  /** Processes pending rows now and pushes what changed. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.dirty.size === 0) return;
    const batch = [...this.dirty];
    this.dirty.clear();
    for (const [id, d] of batch) {
      try {
        const r = d.request ?? rowToTraceRequest(d.row as Partial<RequestsTable>, 'trace-db');
        this.facts.set(id, extractFacts(r, { interner: this.interner }));
        this.states.set(id, d.state);
      } catch (e) {
        this.counters.badRows++;
        this.o.logger.debug(`live view: cannot read row ${id}: ${errorMessage(e)}`);
      }
    }
    const facts = [...this.facts.values()];
    this.model = buildExplorerModel({ facts, index: buildConversationIndex(facts), states: this.states, live: this.o.live ?? true });
    // Push the agents and the requests whose row changed (a re-linked agent changes older requests too).
    const changed: ExplorerRequest[] = [];
    const next = new Map<string, string>();
    for (const r of this.model.requests) {
      const j = JSON.stringify(r);
      next.set(r.id, j);
      if (this.sent.get(r.id) !== j) changed.push(r);
    }
    this.sent = next;
    if (changed.length > 0 && this.clients.size > 0) this.broadcast(sse('update', { agents: this.model.agents, requests: changed }));
  }

  snapshot(): ExplorerModel {
    this.flush();
    return this.model;
  }

  has(id: string): boolean {
    return this.facts.has(id) || this.dirty.has(id);
  }

  private broadcast(chunk: Uint8Array): void {
    for (const c of this.clients) {
      try {
        // desiredSize counts queued events down from the high-water mark: at 0 the browser is not reading.
        if ((c.controller.desiredSize ?? 0) <= 0) {
          this.counters.dropped++;
          c.lagged = true;
          continue;
        }
        if (c.lagged) {
          c.lagged = false;
          this.counters.resyncs++;
          c.controller.enqueue(sse('resync', {}));
          continue;
        }
        c.controller.enqueue(chunk);
        this.counters.pushed++;
      } catch (e) {
        this.clients.delete(c);
        this.o.logger.debug(`live view: dropping a browser connection: ${errorMessage(e)}`);
      }
    }
  }

  /** An SSE response body: the snapshot first, then updates; bounded (maxQueue events), never blocks the hub. */
  subscribe(): ReadableStream<Uint8Array> {
    let client!: Client;
    const max = this.o.maxQueue ?? 256;
    return new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          client = { controller, lagged: false };
          this.clients.add(client);
          controller.enqueue(sse('model', this.snapshot()));
          if (!this.heartbeat) {
            this.heartbeat = setInterval(() => this.broadcast(enc.encode(': keep-alive\n\n')), 15_000);
            this.heartbeat.unref?.();
          }
        },
        cancel: () => {
          this.clients.delete(client);
        },
      },
      new CountQueuingStrategy({ highWaterMark: max }),
    );
  }

  get connections(): number {
    return this.clients.size;
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.timer = this.heartbeat = null;
    for (const c of this.clients) {
      try {
        c.controller.close();
      } catch {
        // already closed by the browser going away: nothing left to close
      }
    }
    this.clients.clear();
  }
}
