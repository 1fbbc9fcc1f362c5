/**
 * A team's setup for real: three `trace capture` processes (bin/trace.js) write into ONE PostgreSQL server while
 * 200 streams run through each at once (600 concurrent, fake upstream). Every request is stored exactly once,
 * complete, tagged with its capturing host/user, and each proxy's sessions stay apart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostname } from 'node:os';
import { Agent, request } from 'undici';
import pg from 'pg';
import { createFakeAnthropic, textReply, type FakeAnthropic } from '../helpers/fake-anthropic.js';
import { HAS_POSTGRES, NO_POSTGRES_MESSAGE, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { spawnCapture, type SpawnedCapture } from '../capture/spawn-capture.js';
import { messagesBody } from '../capture/harness.js';

const PROXIES = 3;
const STREAMS = 200;
const TOTAL = PROXIES * STREAMS;

let server: TestPostgres | null = null;
let fake: FakeAnthropic | undefined;
const caps: SpawnedCapture[] = [];

beforeAll(async () => {
  if (HAS_POSTGRES) server = await startPostgres();
  else console.warn(NO_POSTGRES_MESSAGE);
}, 60_000);
afterAll(async () => {
  for (const c of caps) await c.kill9();
  await fake?.close();
  server?.stop();
});

const sessionOf = (proxy: number) => `00000000-0000-4000-8000-00000000000${proxy}`;

describe.skipIf(!HAS_POSTGRES)('several trace capture proxies into one Postgres', () => {
  it(`${PROXIES} proxies × ${STREAMS} concurrent streams: rows == requests sent, none duplicated, all complete`, async () => {
    // Replies are held until every request is in flight, so all 600 streams (and their row writes) overlap.
    let arrived = 0;
    let allIn!: () => void;
    const gate = new Promise<void>((r) => (allIn = r));
    fake = createFakeAnthropic({
      script: async (body) => {
        if (++arrived === TOTAL) allIn();
        await gate;
        return textReply(`answer for ${body.metadata_tag}`, { pieceSize: 6 });
      },
    });
    await fake.listen();
    const url = server!.createDatabase('team');
    // Started together: the schema migration runs once under an advisory lock.
    caps.push(...(await Promise.all(Array.from({ length: PROXIES }, () => spawnCapture(['--upstream', fake!.url, '--db', url, '--json'], 60_000)))));
    const client = new Agent({ connections: TOTAL, headersTimeout: 0, bodyTimeout: 0 });
    const results = await Promise.all(
      Array.from({ length: TOTAL }, async (_, i) => {
        const p = i % PROXIES;
        const body = messagesBody({
          metadata_tag: `p${p}-r${i}`,
          metadata: { user_id: JSON.stringify({ device_id: `dev${p}`, account_uuid: '', session_id: sessionOf(p) }) },
        });
        const res = await request(`${caps[p]!.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), dispatcher: client });
        const text = await res.body.text();
        const said = text
          .split('\n')
          .filter((l) => l.startsWith('data: '))
          .map((l) => JSON.parse(l.slice(6)) as { type: string; delta?: { text?: string } })
          .filter((e) => e.type === 'content_block_delta')
          .map((e) => e.delta!.text)
          .join('');
        return { status: res.statusCode, complete: text.includes('message_stop') && said === `answer for p${p}-r${i}` };
      }),
    );
    await client.close();
    expect(results.filter((r) => r.status !== 200 || !r.complete)).toEqual([]);
    const codes = await Promise.all(caps.map((c) => c.stop()));
    expect(codes).toEqual([0, 0, 0]);
    for (const c of caps) {
      expect(JSON.parse(c.stdout())).toMatchObject({ requests: STREAMS, complete: STREAMS, errors: 0, aborted: 0, dbWriteErrors: 0 });
    }

    const db = new pg.Client(url);
    await db.connect();
    try {
      const rows = (await db.query<{ id: string; body: string; state: string; message_id: string | null; output_tokens: string | null; session_id: string; origin: string; origin_host: string; upstream_url: string }>(
        'SELECT id, body, state, message_id, output_tokens, session_id, origin, origin_host FROM requests',
      )).rows;
      expect(rows).toHaveLength(TOTAL);
      expect(new Set(rows.map((r) => r.id)).size).toBe(TOTAL);
      const tags = rows.map((r) => (JSON.parse(r.body) as { metadata_tag: string }).metadata_tag);
      expect(new Set(tags).size).toBe(TOTAL);
      expect(rows.filter((r) => r.state !== 'complete' || !r.message_id || !(Number(r.output_tokens) > 0))).toEqual([]);
      expect(new Set(rows.map((r) => r.origin_host))).toEqual(new Set([hostname()]));
      expect(new Set(rows.map((r) => r.origin))).toEqual(new Set(['capture']));
      // Each proxy's session holds exactly its own 200 requests.
      for (let p = 0; p < PROXIES; p++) {
        const mine = rows.filter((r) => r.session_id === sessionOf(p));
        expect(mine).toHaveLength(STREAMS);
        expect(mine.every((r) => (JSON.parse(r.body) as { metadata_tag: string }).metadata_tag.startsWith(`p${p}-`))).toBe(true);
      }
    } finally {
      await db.end();
    }
  }, 180_000);
});
