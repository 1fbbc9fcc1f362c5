/** Shared set-up for capture tests: a fake upstream on a real port, a temp requests.db, a capture handler. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { openDb, type Db } from '../../src/store/db.js';
import { createCaptureHandler, type CaptureHandler, type CaptureHandlerOptions } from '../../src/capture/capture-handler.js';
import { createDbWriter, type RequestWriter } from '../../src/capture/request-writer.js';
import { memoryLogger } from '../../src/shared/logger.js';
import { createFakeAnthropic, type FakeAnthropic, type FakeScript } from '../helpers/fake-anthropic.js';
import type { RequestsTable } from '../../src/store/db-types.js';

export interface Harness {
  fake: FakeAnthropic;
  db: Db;
  dir: string;
  dbPath: string;
  dispatcher: Agent;
  handler: CaptureHandler;
  logger: ReturnType<typeof memoryLogger>;
  /** Sends a request through the capture handler (no proxy socket). */
  send(path: string, init?: RequestInit): Promise<Response>;
  rows(): RequestsTable[];
  close(): Promise<void>;
}

export async function startHarness(
  opts: { script?: FakeScript; writer?: (db: Db) => RequestWriter } & Pick<CaptureHandlerOptions, 'clock' | 'onRow' | 'ui'> = {},
): Promise<Harness> {
  const fake = createFakeAnthropic({ script: opts.script });
  await fake.listen();
  const dir = mkdtempSync(join(tmpdir(), 'trace-capture-'));
  const dbPath = join(dir, 'requests.db');
  const db = openDb(dbPath);
  const dispatcher = new Agent({ keepAliveTimeout: 10_000, headersTimeout: 0, bodyTimeout: 0 });
  const logger = memoryLogger();
  const handler = createCaptureHandler({
    upstream: fake.url,
    writer: opts.writer ? opts.writer(db) : createDbWriter(db),
    dispatcher,
    logger,
    clock: opts.clock,
    onRow: opts.onRow,
    ui: opts.ui,
  });
  return {
    fake,
    db,
    dir,
    dbPath,
    dispatcher,
    handler,
    logger,
    send: (path, init) => handler(new Request(`http://proxy.local${path}`, init)),
    rows: () => db.prepare('SELECT * FROM requests ORDER BY seq').all() as RequestsTable[],
    async close() {
      await dispatcher.destroy().catch(() => {});
      await fake.close();
      try {
        db.close();
      } catch {
        /* already closed */
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A Claude Code-like /v1/messages body. */
export function messagesBody(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: 'claude-opus-4-8',
    max_tokens: 1024,
    stream: true,
    system: [{ type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1.197; cc_entrypoint=sdk-cli;' }],
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Say hello', cache_control: { type: 'ephemeral' } }] }],
    metadata: { user_id: JSON.stringify({ device_id: 'dev1', account_uuid: '', session_id: '11111111-2222-3333-4444-555555555555' }) },
    ...extra,
  };
}

export function postJson(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'sk-ant-secret-123', 'user-agent': 'claude-cli/2.1.197 (external, sdk-cli)', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  };
}

export async function readAllBytes(res: Response): Promise<Uint8Array> {
  return new Uint8Array(await res.arrayBuffer());
}
