/**
 * Incremental Server-Sent Events parser (WHATWG rules): accepts arbitrary chunk boundaries,
 * LF / CRLF / CR line endings, multi-line `data:`, comments, and no line-length limit.
 * It only *observes* a stream — the proxy forwards the original bytes untouched.
 */
export interface SseEvent {
  /** `event:` field; undefined when absent (the spec's default is "message"). */
  event?: string;
  data: string;
  id?: string;
  retry?: number;
}

export class SseParser {
  private buf = '';
  private decoder = new TextDecoder('utf-8');
  private eventType: string | undefined;
  private dataLines: string[] = [];
  private lastId: string | undefined;
  private retry: number | undefined;
  private sawCR = false;
  /** How far `buf` has already been scanned for line breaks (so a very long line is not rescanned per chunk). */
  private scanned = 0;

  /** Feed a chunk; returns the events completed by it. */
  push(chunk: Uint8Array | string): SseEvent[] {
    this.buf += typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    return this.drain(false);
  }

  /** End of stream: flush a trailing event only if it was terminated (per spec, an unterminated event is dropped). */
  end(): SseEvent[] {
    this.buf += this.decoder.decode();
    return this.drain(true);
  }

  private drain(final: boolean): SseEvent[] {
    const out: SseEvent[] = [];
    let start = 0;
    const s = this.buf;
    for (let i = this.scanned; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 10 /* \n */) {
        if (this.sawCR && i === start) {
          // second half of CRLF
          this.sawCR = false;
          start = i + 1;
          continue;
        }
        this.sawCR = false;
        this.line(s.slice(start, i), out);
        start = i + 1;
      } else if (c === 13 /* \r */) {
        this.line(s.slice(start, i), out);
        this.sawCR = true;
        start = i + 1;
      } else {
        this.sawCR = false;
      }
    }
    this.buf = start === 0 ? s : s.slice(start);
    this.scanned = this.buf.length;
    if (final && this.buf.length > 0) {
      this.line(this.buf, out);
      this.buf = '';
      this.scanned = 0;
    }
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === '') {
      // WHATWG: an event with an empty data buffer (no data: line) is not dispatched.
      if (this.dataLines.length > 0) {
        const ev: SseEvent = { data: this.dataLines.join('\n') };
        if (this.eventType !== undefined) ev.event = this.eventType;
        if (this.lastId !== undefined) ev.id = this.lastId;
        if (this.retry !== undefined) ev.retry = this.retry;
        out.push(ev);
      }
      this.dataLines = [];
      this.eventType = undefined;
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) return; // comment
    const colon = line.indexOf(':');
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.charCodeAt(0) === 32) value = value.slice(1);
    }
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.dataLines.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break;
    }
  }
}

/** Parse a complete SSE text at once. */
export function parseSse(text: string): SseEvent[] {
  const p = new SseParser();
  return [...p.push(text), ...p.end()];
}

/** Serialise one event exactly as the Anthropic API frames it: `event: X\ndata: {...}\n\n`. */
export function formatSse(event: string | undefined, data: string): string {
  const lines = data.split('\n').map((l) => `data: ${l}`).join('\n');
  return event === undefined ? `${lines}\n\n` : `event: ${event}\n${lines}\n\n`;
}
