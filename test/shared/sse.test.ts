import { describe, expect, it } from 'vitest';
import { SseParser, formatSse, parseSse, type SseEvent } from '../../src/shared/sse.js';

const enc = new TextEncoder();

function feedAll(text: string, cuts: number[]): SseEvent[] {
  const bytes = enc.encode(text);
  const p = new SseParser();
  const out: SseEvent[] = [];
  let prev = 0;
  for (const c of [...cuts, bytes.length]) {
    out.push(...p.push(bytes.subarray(prev, c)));
    prev = c;
  }
  out.push(...p.end());
  return out;
}

const SAMPLE =
  'event: message_start\ndata: {"type":"message_start"}\n\n' +
  ': keep-alive comment\n' +
  'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"é✓𝄞"}}\n\n' +
  'data: line one\ndata: line two\n\n' +
  'event: message_stop\ndata: {"type":"message_stop"}\n\n';

const EXPECTED: SseEvent[] = [
  { event: 'message_start', data: '{"type":"message_start"}' },
  { event: 'content_block_delta', data: '{"type":"content_block_delta","delta":{"text":"é✓𝄞"}}' },
  { data: 'line one\nline two' },
  { event: 'message_stop', data: '{"type":"message_stop"}' },
];

describe('SseParser', () => {
  it('parses events, comments and multi-line data', () => {
    expect(parseSse(SAMPLE)).toEqual(EXPECTED);
  });

  it('gives the same events for every single split point of the byte stream (incl. inside UTF-8 sequences)', () => {
    const n = enc.encode(SAMPLE).length;
    for (let i = 1; i < n; i++) expect(feedAll(SAMPLE, [i])).toEqual(EXPECTED);
  });

  it('gives the same events fed one byte at a time', () => {
    const n = enc.encode(SAMPLE).length;
    expect(feedAll(SAMPLE, Array.from({ length: n - 1 }, (_, i) => i + 1))).toEqual(EXPECTED);
  });

  it('accepts CRLF and lone CR line endings, including a CRLF split across chunks', () => {
    const crlf = SAMPLE.replace(/\n/g, '\r\n');
    const cr = SAMPLE.replace(/\n/g, '\r');
    expect(parseSse(crlf)).toEqual(EXPECTED);
    expect(parseSse(cr)).toEqual(EXPECTED);
    const at = enc.encode(crlf).indexOf(13) + 1; // between \r and \n
    expect(feedAll(crlf, [at])).toEqual(EXPECTED);
    // mixed endings in one stream
    expect(parseSse('data: a\r\n\ndata: b\r\rdata: c\n\r\n')).toEqual([{ data: 'a' }, { data: 'b' }, { data: 'c' }]);
  });

  it('has no line-length limit: a 5 MB data line split into 1000 chunks', () => {
    const payload = 'y'.repeat(5_000_000);
    const text = `event: big\ndata: ${payload}\n\n`;
    const step = Math.ceil(text.length / 1000);
    const cuts = [];
    for (let i = step; i < text.length; i += step) cuts.push(i);
    const evs = feedAll(text, cuts);
    expect(evs).toHaveLength(1);
    expect(evs[0]!.event).toBe('big');
    expect(evs[0]!.data.length).toBe(5_000_000);
  });

  it('strips exactly one leading space from values, keeps the rest; field without colon means empty value', () => {
    expect(parseSse('data:  two spaces\n\n')).toEqual([{ data: ' two spaces' }]);
    expect(parseSse('data:nospace\n\n')).toEqual([{ data: 'nospace' }]);
    expect(parseSse('data\n\n')).toEqual([{ data: '' }]);
  });

  it('tracks id and retry; ignores unknown fields', () => {
    const evs = parseSse('id: 7\nretry: 1500\nfoo: bar\ndata: x\n\ndata: y\n\n');
    expect(evs).toEqual([
      { data: 'x', id: '7', retry: 1500 },
      { data: 'y', id: '7', retry: 1500 },
    ]);
  });

  it('does not dispatch an event without data (WHATWG) nor an unterminated trailing event', () => {
    expect(parseSse('event: lonely\n\ndata: ok\n\n')).toEqual([{ data: 'ok' }]);
    expect(parseSse('data: done\n\ndata: cut off')).toEqual([{ data: 'done' }]);
  });

  it('strips a leading BOM', () => {
    expect(feedAll('\uFEFFdata: x\n\n', [])).toEqual([{ data: 'x' }]);
  });

  it('formatSse frames like the API and round-trips through the parser', () => {
    expect(formatSse('ping', '{"type":"ping"}')).toBe('event: ping\ndata: {"type":"ping"}\n\n');
    expect(formatSse(undefined, 'a\nb')).toBe('data: a\ndata: b\n\n');
    expect(parseSse(formatSse('m', 'a\nb') + formatSse(undefined, 'c'))).toEqual([{ event: 'm', data: 'a\nb' }, { data: 'c' }]);
  });
});
