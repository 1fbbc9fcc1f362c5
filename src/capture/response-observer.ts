/**
 * Watches a copy of the response bytes the proxy relays (it never changes them): decodes a copy when the body
 * is gzip/br/deflate-encoded, parses SSE (SseParser) and rebuilds the message (MessageAssembler), keeps the
 * event list with arrival offsets and raw `data:` payloads, and notes TTFT (first content_block_start/delta for
 * SSE; first response byte otherwise). Offsets are monotonic-clock differences.
 */
import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Clock } from '../shared/clock.js';
import { SseParser } from '../shared/sse.js';
import { MessageAssembler, toUsage } from '../shared/message-assembler.js';
import type { AssistantMessage, Usage } from '../shared/anthropic.js';
import type { RecordedSseEvent } from '../store/db-types.js';

export interface ObservedResponse {
  isSse: boolean;
  /** ms from request start to the first content event (SSE) or first body byte (otherwise); null if none. */
  ttftMs: number | null;
  /** Raw bytes relayed (as sent by upstream, before any decoding). */
  bytes: number;
  /** SSE: every event with its offset from the request start and its raw `data:` payload. */
  sseEvents: RecordedSseEvent[];
  /** SSE: the reassembled message; non-SSE JSON: the parsed body. */
  json: unknown;
  /** Non-JSON body text (non-SSE only). */
  bodyText: string | undefined;
  message: AssistantMessage | undefined;
  usage: Usage | undefined;
  /** `error` event in the stream, or the API error body of a non-2xx JSON response. */
  apiError: string | undefined;
  /** Content-Encoding we could not decode (the bytes were still relayed untouched). */
  decodeError: string | undefined;
}

export class ResponseObserver {
  readonly isSse: boolean;
  private readonly parser = new SseParser();
  private readonly assembler = new MessageAssembler();
  private readonly decoder: Transform | undefined;
  private decoderDone: Promise<void> | undefined;
  private decodeError: string | undefined;
  private readonly bodyChunks: Buffer[] = [];
  private ttftMs: number | null = null;
  private bytes = 0;
  private readonly sseEvents: RecordedSseEvent[] = [];

  constructor(
    contentType: string | undefined,
    contentEncoding: string | undefined,
    /** `clock.monotonic()` when the request arrived. */
    private readonly startedAtMono: number,
    private readonly clock: Clock,
  ) {
    this.isSse = /text\/event-stream/i.test(contentType ?? '');
    const enc = (contentEncoding ?? '').trim().toLowerCase();
    if (enc === 'gzip' || enc === 'x-gzip') this.decoder = createGunzip();
    else if (enc === 'br') this.decoder = createBrotliDecompress();
    else if (enc === 'deflate') this.decoder = createInflate();
    else if (enc !== '' && enc !== 'identity') this.decodeError = `unsupported content-encoding ${enc}`;
    if (this.decoder) {
      const d = this.decoder;
      this.decoderDone = new Promise<void>((resolve) => {
        d.on('data', (c: Buffer) => this.decoded(c));
        d.on('end', resolve);
        d.on('error', (e: Error) => {
          this.decodeError = `cannot decode ${enc}: ${e.message}`;
          resolve();
        });
      });
    }
  }

  /** A chunk exactly as relayed. */
  push(chunk: Uint8Array): void {
    if (this.bytes === 0 && !this.isSse) this.ttftMs = this.clock.monotonic() - this.startedAtMono;
    this.bytes += chunk.byteLength;
    if (this.decodeError !== undefined && !this.decoder) return;
    if (this.decoder) {
      if (!this.decodeError) this.decoder.write(chunk);
    } else this.decoded(chunk);
  }

  private decoded(chunk: Uint8Array): void {
    if (!this.isSse) {
      this.bodyChunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      return;
    }
    this.events(this.parser.push(chunk));
  }

  private events(evs: ReturnType<SseParser['push']>): void {
    for (const ev of evs) {
      const at = this.clock.monotonic() - this.startedAtMono;
      this.sseEvents.push([at, ev.event ?? null, ev.data]);
      const firstContent = this.assembler.pushData(ev.data);
      if (firstContent && this.ttftMs === null) this.ttftMs = at;
    }
  }

  /** The stream ended (cleanly or not): flush decoders and parsers, then describe what was seen. */
  async finish(): Promise<ObservedResponse> {
    if (this.decoder && !this.decodeError) {
      this.decoder.end();
      await this.decoderDone;
    }
    let json: unknown;
    let bodyText: string | undefined;
    let message: AssistantMessage | undefined;
    let usage: Usage | undefined;
    let apiError: string | undefined;
    if (this.isSse) {
      this.events(this.parser.end());
      message = this.assembler.result();
      json = message;
      if (this.assembler.hasUsage) usage = message?.usage;
      const e = this.assembler.errorEvent;
      if (e) apiError = `${e.type}: ${e.message}`;
    } else if (this.bodyChunks.length > 0 || this.bytes === 0) {
      const buf = Buffer.concat(this.bodyChunks);
      const text = buf.toString('utf8');
      try {
        json = text === '' ? undefined : JSON.parse(text);
      } catch {
        bodyText = text; // not JSON: kept as text
      }
      if (json && typeof json === 'object') {
        const o = json as Record<string, unknown>;
        if (o.type === 'message') {
          message = o as unknown as AssistantMessage;
          usage = toUsage(o.usage);
        } else if (o.type === 'error' && o.error && typeof o.error === 'object') {
          const err = o.error as Record<string, unknown>;
          apiError = `${String(err.type)}: ${String(err.message)}`;
        }
      }
    }
    return {
      isSse: this.isSse,
      ttftMs: this.ttftMs,
      bytes: this.bytes,
      sseEvents: this.sseEvents,
      json,
      bodyText,
      message,
      usage,
      apiError,
      decodeError: this.decodeError,
    };
  }
}
