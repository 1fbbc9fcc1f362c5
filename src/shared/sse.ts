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
  /** Pieces of the current, not yet terminated line (kept apart so a very long line is never rescanned or re-copied per chunk). */
  private pending: string[] = [];
  private decoder = new TextDecoder('utf-8');
  private eventType: string | undefined;
  private dataLines: string[] = [];
  private lastId: string | undefined;
  private retry: number | undefined;
  private sawCR = false;

  /** Feed a chunk; returns the events completed by it. */
  push(chunk: Uint8Array | string): SseEvent[] {
    return this.feed(typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true }), false);
  }

  /** End of stream: flush a trailing event only if it was terminated (per spec, an unterminated event is dropped). */
  end(): SseEvent[] {
    return this.feed(this.decoder.decode(), true);
  }

  private feed(s: string, final: boolean): SseEvent[] {
    const out: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 10 /* \n */) {
        if (this.sawCR && i === start && this.pending.length === 0) {
          // second half of CRLF (possibly split across chunks)
          this.sawCR = false;
          start = i + 1;
          continue;
        }
        this.sawCR = false;
        this.takeLine(s.slice(start, i), out);
        start = i + 1;
      } else if (c === 13 /* \r */) {
        this.takeLine(s.slice(start, i), out);
        this.sawCR = true;
        start = i + 1;
      } else {
        this.sawCR = false;
      }
    }
    if (start < s.length) this.pending.push(start === 0 ? s : s.slice(start));
    if (final && this.pending.length > 0) this.takeLine('', out);
    return out;
  }

  private takeLine(tail: string, out: SseEvent[]): void {
    let line = tail;
    if (this.pending.length > 0) {
      this.pending.push(tail);
      line = this.pending.join('');
      this.pending = [];
    }
    this.line(line, out);
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
