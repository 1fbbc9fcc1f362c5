/** 1,000 concurrent streams through the proxy (real sockets on both sides): every one relayed, every row stored. */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { openDb, type Db } from '../../src/store/db.js';
import { createCaptureHandler } from '../../src/capture/capture-handler.js';
import { createBatchingDbWriter } from '../../src/capture/request-writer.js';
import { listen, type Listening } from '../../src/capture/listen.js';
import { createFakeAnthropic, textReply, type FakeAnthropic } from '../helpers/fake-anthropic.js';
import { messagesBody } from './harness.js';

const N = 1000;
let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe('capture under load', () => {
  it(`${N} concurrent streaming requests: all relayed intact, zero lost rows`, async () => {
    // Hold every reply until all N requests are in flight at once, then stream them.
    let arrived = 0;
    let allIn!: () => void;
    const gate = new Promise<void>((r) => (allIn = r));
    const fake: FakeAnthropic = createFakeAnthropic({
      script: async (body) => {
        if (++arrived === N) allIn();
        await gate;
        return textReply(`answer for ${body.metadata_tag}`, { pieceSize: 4 });
      },
    });
    await fake.listen();
    const dir = mkdtempSync(join(tmpdir(), 'trace-load-'));
    const db: Db = openDb(join(dir, 'requests.db'));
    const upstreamAgent = new Agent({ connections: N, headersTimeout: 0, bodyTimeout: 0 });
    // the batching writer is what `trace capture` uses
    const writeErrors: unknown[] = [];
    const writer = createBatchingDbWriter(db, { onError: (e) => writeErrors.push(e) });
    const handler = createCaptureHandler({ upstream: fake.url, writer, dispatcher: upstreamAgent });
    const proxy: Listening = await listen(handler);
    const client = new Agent({ connections: N, headersTimeout: 0, bodyTimeout: 0 });
    cleanup = async () => {
      await client.destroy();
      await proxy.close();
      await upstreamAgent.destroy();
      await fake.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    };

    const results = await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        try {
          const res = await request(`${proxy.url}/v1/messages`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ ...messagesBody(), metadata_tag: `r${i}` }),
            dispatcher: client,
          });
          return { i, status: res.statusCode, text: await res.body.text(), error: undefined };
        } catch (e) {
          return { i, status: 0, text: '', error: `${String(e)} ${String((e as { cause?: unknown }).cause ?? '')}` };
        }
      }),
    );
    await handler.idle();
    const failures = results.filter((r) => r.error !== undefined || r.status !== 200);
    expect(failures.slice(0, 5), `stats ${JSON.stringify(handler.stats)} aborts ${fake.aborts().length}`).toEqual([]);
    for (const r of results) {
      const text = r.text
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => JSON.parse(l.slice(6)) as { type: string; delta?: { text?: string } })
        .filter((e) => e.type === 'content_block_delta')
        .map((e) => e.delta!.text)
        .join('');
      expect(text).toBe(`answer for r${r.i}`);
    }
    await handler.idle();
    writer.flush();
    expect(writeErrors).toEqual([]);
    expect(handler.stats).toMatchObject({ requests: N, complete: N, errors: 0, aborted: 0, dbWriteErrors: 0, inFlight: 0 });
    const rows = db.prepare("SELECT state, body, message_id, output_tokens FROM requests").all() as { state: string; body: string; message_id: string; output_tokens: number }[];
    expect(rows).toHaveLength(N);
    expect(rows.every((r) => r.state === 'complete' && r.message_id && r.output_tokens > 0)).toBe(true);
    const tags = new Set(rows.map((r) => (JSON.parse(r.body) as { metadata_tag: string }).metadata_tag));
    expect(tags.size).toBe(N);
  }, 120_000);
});
