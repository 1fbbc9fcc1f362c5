/**
 * The live view inside the capture handler (no browser): rows pushed over SSE, details as stored, 404s for
 * unknown ids and paths, /_trace/ never forwarded nor recorded, and a browser that does not read loses events
 * (bounded queue, then a resync) while capture goes on.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, messagesBody, postJson, readAllBytes, type Harness } from '../capture/harness.js';
import { createCaptureUi, type CaptureUi } from '../../src/view/live-view.js';
import { textReply } from '../helpers/fake-anthropic.js';
import type { ExplorerDetail, ExplorerModel } from '../../src/report/explorer/explorer-model.js';

let h: Harness | undefined;
let live: CaptureUi | undefined;
afterEach(async () => {
  live?.close();
  await h?.close();
  h = live = undefined;
});

async function setup(maxQueue?: number): Promise<{ h: Harness; live: CaptureUi }> {
  let ui: CaptureUi | undefined;
  h = await startHarness({
    script: () => textReply('hi', { usage: { input_tokens: 10, cache_read_input_tokens: 300, cache_creation_input_tokens: 50, output_tokens: 7 } }),
    onRow: (e) => ui!.onRow(e),
    ui: (r) => ui!.ui(r),
  });
  live = ui = createCaptureUi(h.db, h.logger, { maxQueue });
  return { h, live };
}

async function message(h: Harness, text: string): Promise<void> {
  const res = await h.send('/v1/messages', postJson(messagesBody({ messages: [{ role: 'user', content: text }] }), { 'x-api-key': 'sk-ant-secret-key' }));
  await readAllBytes(res);
  await h.handler.idle();
}

const get = async (h: Harness, path: string) => {
  const r = await h.send(path);
  return { status: r.status, type: r.headers.get('content-type'), body: await r.text() };
};

describe('live view in the capture handler', () => {
  it('shows each row with its usage; details as stored; 404 for unknown ids and paths; /_trace/ is never forwarded', async () => {
    const { h, live } = await setup();
    await message(h, 'first question');
    await message(h, 'second question');
    const model = JSON.parse((await get(h, '/_trace/api/model')).body) as ExplorerModel;
    const rows = h.rows();
    expect(model.requests.map((r) => r.id).sort()).toEqual(rows.map((r) => r.id).sort());
    for (const r of model.requests) {
      expect(r.state).toBe('complete');
      expect(r.status).toBe(200);
      expect(r.usage).toEqual({ input: 10, output: 7, cacheRead: 300, cacheCreation: 50, context: 360 });
    }
    const d = await get(h, `/_trace/api/requests/${rows[0]!.id}`);
    expect(d.status).toBe(200);
    const detail = JSON.parse(d.body) as ExplorerDetail;
    expect(detail.messages[0]!.blocks[0]!.text).toBe('first question');
    expect(detail.response[0]!.text).toBe('hi');
    expect((await get(h, '/_trace/api/requests/no-such-id')).status).toBe(404);
    expect((await get(h, '/_trace/api/requests/%E0%A4%A')).status).toBe(404);
    expect((await get(h, '/_trace/nothing-here')).status).toBe(404);
    const page = await get(h, '/_trace/');
    expect(page.status).toBe(200);
    expect(page.type).toContain('text/html');
    expect(page.body).toContain('TraceExplorer');
    expect(page.body).not.toMatch(/<script[^>]+src=|<link[^>]+href="(?!data:)/);
    // Nothing under /_trace/ reached the upstream or the DB.
    expect(h.fake.requests.map((r) => r.path)).toEqual(['/v1/messages', '/v1/messages']);
    expect(h.rows()).toHaveLength(2);
    expect(live.hub.counters.badRows).toBe(0);
  });

  it('pushes the model, then updates, over SSE', async () => {
    const { h } = await setup();
    const res = await h.send('/_trace/events');
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let text = '';
    const until = async (re: RegExp) => {
      while (!re.test(text)) text += dec.decode((await reader.read()).value);
    };
    await until(/event: model\n/);
    await message(h, 'hello');
    live!.hub.flush();
    await until(/event: update\ndata: .*"state":"complete"/);
    const updates = text.split('\n\n').filter((e) => e.startsWith('event: update'));
    const last = JSON.parse(updates.at(-1)!.split('\ndata: ')[1]!) as { requests: { id: string }[] };
    expect(last.requests.map((r) => r.id)).toEqual([h.rows()[0]!.id]);
    await reader.cancel();
    expect(live!.hub.connections).toBe(0);
  });

  it('a browser that stops reading loses events (bounded queue) and gets a resync; capture goes on', async () => {
    const { h, live } = await setup(2);
    const res = await h.send('/_trace/events'); // never read until the end
    for (let i = 0; i < 6; i++) {
      await message(h, `q${i}`);
      live.hub.flush();
    }
    expect(h.rows().filter((r) => r.state === 'complete')).toHaveLength(6);
    expect(live.hub.counters.dropped).toBeGreaterThan(0);
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let text = '';
    // Drain what was queued (the model + at most 2 events), then the next change brings a resync.
    let pending: ReturnType<typeof reader.read> | null = null;
    const drain = async () => {
      for (;;) {
        pending ??= reader.read();
        const r = await Promise.race([pending, new Promise<null>((ok) => setTimeout(() => ok(null), 50))]);
        if (!r || r.done) return;
        pending = null;
        text += dec.decode(r.value);
      }
    };
    await drain();
    await message(h, 'after');
    live.hub.flush();
    await drain();
    expect(text).toContain('event: resync');
    await reader.cancel();
  });
});
