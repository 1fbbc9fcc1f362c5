import type { ToolSpec } from './chat-types.js';

/**
 * Incremental parser that splits generated text into plain text and tool calls, in both formats the chat
 * templates use:
 *   Hermes / Qwen3:   <tool_call>\n{"name": "Read", "arguments": {"file_path": "/x"}}\n</tool_call>
 *   Qwen3-Coder XML:  <tool_call>\n<function=Read>\n<parameter=file_path>\n/x\n</parameter>\n</function>\n</tool_call>
 * Text that may be the start of `<tool_call>` is held back until it can be decided; whitespace-only text
 * right around tool calls is dropped. A tool call that does not parse is passed through as text.
 */

export type ParsedPiece = { type: 'text'; text: string } | { type: 'tool_call'; name: string; arguments: Record<string, unknown> };

const OPEN = '<tool_call>';
const CLOSE = '</tool_call>';

export class ToolCallStreamParser {
  private buf = '';
  private inside = false;
  /** Whitespace-only text waiting to see whether real text follows. */
  private pendingWs = '';
  private sawToolCall = false;
  private afterToolCall = false;

  constructor(private readonly tools: ToolSpec[] = []) {}

  push(text: string): ParsedPiece[] {
    this.buf += text;
    const out: ParsedPiece[] = [];
    for (;;) {
      if (!this.inside) {
        const at = this.buf.indexOf(OPEN);
        if (at >= 0) {
          this.text(this.buf.slice(0, at), out, true);
          this.buf = this.buf.slice(at + OPEN.length);
          this.inside = true;
          continue;
        }
        const keep = partialSuffix(this.buf, OPEN);
        this.text(this.buf.slice(0, this.buf.length - keep), out, false);
        this.buf = this.buf.slice(this.buf.length - keep);
        return out;
      }
      const end = this.buf.indexOf(CLOSE);
      if (end < 0) return out;
      const body = this.buf.slice(0, end);
      this.buf = this.buf.slice(end + CLOSE.length);
      this.inside = false;
      this.call(body, out, true);
    }
  }

  /** End of generation: flush held-back text; an unterminated tool call is parsed if complete enough. */
  end(): ParsedPiece[] {
    const out: ParsedPiece[] = [];
    if (this.inside) {
      this.inside = false;
      this.call(this.buf, out, false);
    } else if (this.buf !== '') {
      this.text(this.buf, out, false);
    }
    this.buf = '';
    if (this.pendingWs !== '' && !this.sawToolCall) out.push({ type: 'text', text: this.pendingWs });
    this.pendingWs = '';
    return out;
  }

  /** Trailing whitespace is held until real text follows (dropped before a tool call); text right after a
   * tool call loses its leading whitespace — the same result for any chunking. */
  private text(t: string, out: ParsedPiece[], beforeToolCall: boolean): void {
    let full = this.pendingWs + t;
    this.pendingWs = '';
    if (this.afterToolCall) {
      full = full.replace(/^\s+/, '');
      if (full !== '') this.afterToolCall = false;
    }
    const m = /\s*$/.exec(full)!;
    const body = full.slice(0, m.index);
    if (body !== '') out.push({ type: 'text', text: body });
    if (!beforeToolCall) this.pendingWs = full.slice(m.index);
  }

  private call(body: string, out: ParsedPiece[], closed: boolean): void {
    const parsed = parseToolCallBody(body, this.tools);
    if (parsed) {
      this.pendingWs = '';
      this.sawToolCall = true;
      this.afterToolCall = true;
      out.push({ type: 'tool_call', ...parsed });
    } else {
      const raw = OPEN + body + (closed ? CLOSE : '');
      this.pendingWs = '';
      out.push({ type: 'text', text: raw });
    }
  }
}

/** Length of the longest suffix of `s` that is a proper prefix of `token`. */
function partialSuffix(s: string, token: string): number {
  for (let n = Math.min(token.length - 1, s.length); n > 0; n--) if (token.startsWith(s.slice(s.length - n))) return n;
  return 0;
}

/** Parses the inside of one <tool_call>…</tool_call>; null when it is not a well-formed call. */
export function parseToolCallBody(body: string, tools: ToolSpec[] = []): { name: string; arguments: Record<string, unknown> } | null {
  const s = body.trim();
  if (s.startsWith('{')) {
    try {
      const o = JSON.parse(s) as { name?: unknown; arguments?: unknown; parameters?: unknown };
      if (typeof o.name !== 'string' || o.name === '') return null;
      let args = o.arguments ?? o.parameters ?? {};
      if (typeof args === 'string') args = args.trim() === '' ? {} : JSON.parse(args);
      if (args === null || typeof args !== 'object' || Array.isArray(args)) return null;
      return { name: o.name, arguments: args as Record<string, unknown> };
    } catch {
      return null;
    }
  }
  const fm = /^<function=([^>\n]+)>([\s\S]*?)(<\/function>\s*)?$/.exec(s);
  if (!fm) return null;
  const name = fm[1]!.trim();
  const schema = tools.find((t) => t.name === name)?.parameters as { properties?: Record<string, { type?: unknown }> } | undefined;
  const args: Record<string, unknown> = {};
  const re = /<parameter=([^>\n]+)>([\s\S]*?)<\/parameter>/g;
  for (let m = re.exec(fm[2]!); m; m = re.exec(fm[2]!)) {
    const key = m[1]!.trim();
    const raw = m[2]!.replace(/^\n/, '').replace(/\n$/, '');
    args[key] = coerce(raw, schema?.properties?.[key]?.type);
  }
  return { name, arguments: args };
}

function coerce(raw: string, type: unknown): unknown {
  if (type === 'string') return raw;
  const t = raw.trim();
  if (type === undefined && !/^(-?\d|\{|\[|true$|false$|null$)/.test(t)) return raw;
  try {
    return JSON.parse(t);
  } catch {
    return raw;
  }
}
