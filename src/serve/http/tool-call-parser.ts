import type { ToolSpec } from './chat-types.js';
import type { ToolCallFormat } from './jinja-template.js';

/**
 * Incremental parser that splits generated text into plain text and tool calls, per template family:
 *   Hermes / Qwen3:   <tool_call>\n{"name": "Read", "arguments": {"file_path": "/x"}}\n</tool_call>
 *   Qwen3-Coder XML:  <tool_call>\n<function=Read>\n<parameter=file_path>\n/x\n</parameter>\n</function>\n</tool_call>
 *   GLM-4.5/4.6:      <tool_call>Read\n<arg_key>file_path</arg_key>\n<arg_value>/x</arg_value>\n</tool_call>
 *   Mistral/Devstral: [TOOL_CALLS]Read[ARGS]{"file_path": "/x"}   (also the older [TOOL_CALLS] [{"name": …, "arguments": …}])
 * Text that may be the start of the opening marker is held back until it can be decided; whitespace-only text
 * right around tool calls is dropped. A tool call that does not parse is passed through as text. Mistral calls
 * have no closing marker: a call ends at the next [TOOL_CALLS] or at the end of generation.
 */

export type ParsedCall = { name: string; arguments: Record<string, unknown> };
export type ParsedPiece = { type: 'text'; text: string } | ({ type: 'tool_call' } & ParsedCall);

interface Syntax {
  open: string;
  /** null: a call runs to the next `open` or the end of generation. */
  close: string | null;
  parse(body: string, tools: ToolSpec[]): ParsedCall[] | null;
}

const one = (body: string, tools: ToolSpec[]): ParsedCall[] | null => {
  const c = parseToolCallBody(body, tools);
  return c ? [c] : null;
};
const TAGGED: Syntax = { open: '<tool_call>', close: '</tool_call>', parse: one };
const SYNTAX: Record<ToolCallFormat, Syntax> = {
  hermes: TAGGED,
  glm: TAGGED,
  mistral: { open: '[TOOL_CALLS]', close: null, parse: parseMistralCalls },
  // gpt-oss harmony channels are not parsed yet (see NOTES.md): its text passes through
  harmony: TAGGED,
};

export class ToolCallStreamParser {
  private buf = '';
  private inside = false;
  /** Whitespace-only text waiting to see whether real text follows. */
  private pendingWs = '';
  private sawToolCall = false;
  private afterToolCall = false;

  private readonly syntax: Syntax;

  constructor(
    private readonly tools: ToolSpec[] = [],
    format: ToolCallFormat = 'hermes',
  ) {
    this.syntax = SYNTAX[format];
  }

  push(text: string): ParsedPiece[] {
    this.buf += text;
    const out: ParsedPiece[] = [];
    const { open, close } = this.syntax;
    for (;;) {
      if (!this.inside) {
        const at = this.buf.indexOf(open);
        if (at >= 0) {
          this.text(this.buf.slice(0, at), out, true);
          this.buf = this.buf.slice(at + open.length);
          this.inside = true;
          continue;
        }
        const keep = partialSuffix(this.buf, open);
        this.text(this.buf.slice(0, this.buf.length - keep), out, false);
        this.buf = this.buf.slice(this.buf.length - keep);
        return out;
      }
      if (close === null) {
        // an open-ended call ends where the next one starts
        const next = this.buf.indexOf(open);
        if (next < 0) return out;
        this.call(this.buf.slice(0, next), out, false);
        this.buf = this.buf.slice(next + open.length);
        continue;
      }
      const end = this.buf.indexOf(close);
      if (end < 0) return out;
      const body = this.buf.slice(0, end);
      this.buf = this.buf.slice(end + close.length);
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
    const parsed = this.syntax.parse(body, this.tools);
    if (parsed && parsed.length > 0) {
      this.pendingWs = '';
      this.sawToolCall = true;
      this.afterToolCall = true;
      for (const c of parsed) out.push({ type: 'tool_call', ...c });
    } else {
      const raw = this.syntax.open + body + (closed && this.syntax.close !== null ? this.syntax.close : '');
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
export function parseToolCallBody(body: string, tools: ToolSpec[] = []): ParsedCall | null {
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
  const glm = /^([^<\s]+)\s*((?:<arg_key>[\s\S]*?<\/arg_key>\s*<arg_value>[\s\S]*?<\/arg_value>\s*)*)$/.exec(s);
  if (glm && (glm[2] !== '' || !s.includes('<'))) return xmlArgs(glm[1]!.trim(), glm[2]!, /<arg_key>([\s\S]*?)<\/arg_key>\s*<arg_value>([\s\S]*?)<\/arg_value>/g, tools);
  const fm = /^<function=([^>\n]+)>([\s\S]*?)(<\/function>\s*)?$/.exec(s);
  if (!fm) return null;
  return xmlArgs(fm[1]!.trim(), fm[2]!, /<parameter=([^>\n]+)>([\s\S]*?)<\/parameter>/g, tools);
}

/** Name + key/value pairs in XML-ish tags, values coerced by the tool's JSON schema. */
function xmlArgs(name: string, text: string, re: RegExp, tools: ToolSpec[]): ParsedCall {
  const schema = tools.find((t) => t.name === name)?.parameters as { properties?: Record<string, { type?: unknown }> } | undefined;
  const args: Record<string, unknown> = {};
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const key = m[1]!.trim();
    const raw = m[2]!.replace(/^\n/, '').replace(/\n$/, '');
    args[key] = coerce(raw, schema?.properties?.[key]?.type);
  }
  return { name, arguments: args };
}

/**
 * The body after one `[TOOL_CALLS]`: `NAME[ARGS]{json}` (Devstral 2507+, Magistral) or a JSON list
 * `[{"name": …, "arguments": {…}, "id": …}, …]` (Mistral Small 3.x, Nemo). Null when malformed.
 */
export function parseMistralCalls(body: string): ParsedCall[] | null {
  const s = body.trim();
  const argsAt = s.indexOf('[ARGS]');
  if (argsAt > 0) {
    const name = s.slice(0, argsAt).trim();
    const args = jsonObject(s.slice(argsAt + '[ARGS]'.length));
    return name !== '' && !/\s/.test(name) && args ? [{ name, arguments: args }] : null;
  }
  if (!s.startsWith('[')) return null;
  let list: unknown;
  try {
    list = JSON.parse(s);
  } catch {
    return null;
  }
  if (!Array.isArray(list) || list.length === 0) return null;
  const calls: ParsedCall[] = [];
  for (const c of list as { name?: unknown; arguments?: unknown }[]) {
    const args = typeof c?.arguments === 'string' ? jsonObject(c.arguments) : c?.arguments;
    if (typeof c?.name !== 'string' || c.name === '' || args === null || typeof args !== 'object' || Array.isArray(args)) return null;
    calls.push({ name: c.name, arguments: args as Record<string, unknown> });
  }
  return calls;
}

function jsonObject(text: string): Record<string, unknown> | null {
  const t = text.trim();
  if (t === '') return {};
  try {
    const v = JSON.parse(t) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
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
