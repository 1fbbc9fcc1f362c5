/**
 * GBNF grammar (llama.cpp grammar-constrained sampling) that forces a reply to be exactly one Hermes-format tool
 * call — the format the HTTP layer's parser (src/serve/http/tool-call-parser.ts) and chat template already use:
 *
 *   <tool_call>\n{"name": "<tool>", "arguments": {<required args>}}\n</tool_call>
 *
 * built from Anthropic tool definitions (name + input_schema; OpenAI-style `parameters` is accepted too).
 * `arguments` holds exactly the schema's REQUIRED properties (optional ones are omitted), each with a value of its
 * JSON type: string (enum / const / a caller-supplied list of choices / a bounded free string), number, integer,
 * boolean, null, array (of its `items`, a few at most) and object (its own required properties, nested), plus
 * anyOf/oneOf and type lists as alternatives. Everything is bounded (string length, digits, array items, nesting
 * depth) so even a random-weight model terminates. Not enforced: numeric minimum/maximum, string pattern/format,
 * uniqueness, additionalProperties values, $ref (a schema with $ref or no type gets a bounded JSON scalar).
 * This is a demo/testing device (a tiny model can drive a real tool loop), not a JSON-Schema validator.
 */

export interface GrammarTool {
  name: string;
  /** Anthropic tool definition. */
  input_schema?: unknown;
  /** OpenAI function parameters / the HTTP layer's ToolSpec. */
  parameters?: unknown;
}

export interface ToolGrammarOptions {
  /** Only these tool names may be called (others are left out of the grammar). Unknown names are ignored. */
  allowedTools?: readonly string[];
  /**
   * Fixed choices for string properties, by property name (`file_path`) or `Tool.property` (`Read.file_path`,
   * takes precedence). Applies at any nesting depth to properties of type string.
   */
  stringChoices?: Readonly<Record<string, readonly string[]>>;
  /** Max characters of a free string (default 64). */
  maxStringLength?: number;
  /** Max items of an array (default 2; raised to minItems when that is larger). */
  maxArrayItems?: number;
  /** Max object/array nesting inside `arguments` (default 4); deeper values become bounded scalars. */
  maxDepth?: number;
}

/** Thrown when no tool is left to call (empty tool list or allowedTools matches none). */
export class ToolGrammarError extends Error {
  override name = 'ToolGrammarError';
}

/** Characters of a free string: printable ASCII without `"`, `\` and `<` (so no escape sequences are needed and
 * the value can never contain `</tool_call>`). */
const STRING_CHAR = '[\\x20-\\x21\\x23-\\x3B\\x3D-\\x5B\\x5D-\\x7E]';

/** A GBNF double-quoted literal for `s`. */
export function gbnfLiteral(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + '"';
}

type Schema = Record<string, unknown>;

const isObj = (v: unknown): v is Schema => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The tools the grammar will offer (after `allowedTools`), in definition order. */
export function grammarTools(tools: readonly GrammarTool[], allowed?: readonly string[]): GrammarTool[] {
  const seen = new Set<string>();
  const out: GrammarTool[] = [];
  for (const t of tools) {
    if (typeof t?.name !== 'string' || t.name === '' || seen.has(t.name)) continue;
    if (allowed && !allowed.includes(t.name)) continue;
    seen.add(t.name);
    out.push(t);
  }
  return out;
}

/** Builds the GBNF grammar text (root rule `root`). Throws ToolGrammarError when no tool remains. */
export function buildToolGrammar(tools: readonly GrammarTool[], options: ToolGrammarOptions = {}): string {
  const chosen = grammarTools(tools, options.allowedTools);
  if (chosen.length === 0) {
    throw new ToolGrammarError(
      options.allowedTools ? `none of the allowed tools (${options.allowedTools.join(', ')}) is in the request` : 'no tools to build a tool-call grammar from',
    );
  }
  const b = new Builder(options);
  const alts = chosen.map((t, i) => {
    const schema = isObj(t.input_schema) ? t.input_schema : isObj(t.parameters) ? t.parameters : { type: 'object' };
    const args = b.object(schema, `t${i}`, 0, t.name, true);
    return b.rule(`t${i}`, `${gbnfLiteral(JSON.stringify(t.name))} ${gbnfLiteral(', "arguments": ')} ${args}`);
  });
  const root = `root ::= ${gbnfLiteral('<tool_call>\n{"name": ')} call ${gbnfLiteral('}\n</tool_call>')}`;
  return [root, `call ::= ${alts.join(' | ')}`, ...b.rules].join('\n') + '\n';
}

class Builder {
  readonly rules: string[] = [];
  private readonly names = new Set<string>(['root', 'call']);
  private readonly shared = new Map<string, string>();
  private readonly maxStr: number;
  private readonly maxItems: number;
  private readonly maxDepth: number;

  constructor(private readonly o: ToolGrammarOptions) {
    this.maxStr = Math.max(1, Math.floor(o.maxStringLength ?? 64));
    this.maxItems = Math.max(0, Math.floor(o.maxArrayItems ?? 2));
    this.maxDepth = Math.max(0, Math.floor(o.maxDepth ?? 4));
  }

  /** Adds `name ::= body` (name made unique) and returns the name. */
  rule(name: string, body: string): string {
    let n = name.replace(/[^a-zA-Z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'r';
    if (this.names.has(n)) {
      let k = 2;
      while (this.names.has(`${n}-${k}`)) k++;
      n = `${n}-${k}`;
    }
    this.names.add(n);
    this.rules.push(`${n} ::= ${body}`);
    return n;
  }

  /** A rule shared by every use (same body → same rule). */
  private sharedRule(name: string, body: string): string {
    const hit = this.shared.get(body);
    if (hit) return hit;
    const n = this.rule(name, body);
    this.shared.set(body, n);
    return n;
  }

  private freeString(minLength: number): string {
    const min = Math.min(Math.max(0, Math.floor(minLength)), this.maxStr);
    return this.sharedRule(min === 0 ? 'str' : `str-min${min}`, `"\\"" ${STRING_CHAR}{${min},${this.maxStr}} "\\""`);
  }

  private scalar(): string {
    return this.sharedRule('scalar', `${this.freeString(0)} | ${this.integer()} | "true" | "false" | "null"`);
  }

  private integer(nonNegative = false): string {
    const digits = '("0" | [1-9] [0-9]{0,8})';
    return nonNegative ? this.sharedRule('uint', digits) : this.sharedRule('int', `"-"? ${digits}`);
  }

  private number(nonNegative: boolean): string {
    return this.sharedRule(nonNegative ? 'unum' : 'num', `${this.integer(nonNegative)} ("." [0-9]{1,6})?`);
  }

  /** Grammar expression for a value of `schema`. */
  value(schema: unknown, path: string, depth: number, tool: string, prop: string | undefined): string {
    if (!isObj(schema)) return this.scalar();
    if ('const' in schema) return gbnfLiteral(JSON.stringify(schema.const));
    if (Array.isArray(schema.enum) && schema.enum.length > 0) {
      return `(${schema.enum.map((v) => gbnfLiteral(JSON.stringify(v))).join(' | ')})`;
    }
    const alts = Array.isArray(schema.anyOf) ? schema.anyOf : Array.isArray(schema.oneOf) ? schema.oneOf : null;
    if (alts && alts.length > 0) {
      return `(${alts.map((a, i) => this.value(a, `${path}-${i}`, depth, tool, prop)).join(' | ')})`;
    }
    const types = Array.isArray(schema.type) ? (schema.type as unknown[]) : [schema.type];
    if (types.length > 1) return `(${types.map((t, i) => this.value({ ...schema, type: t }, `${path}-${i}`, depth, tool, prop)).join(' | ')})`;
    const nonNegative = typeof schema.minimum === 'number' && schema.minimum >= 0;
    switch (types[0]) {
      case 'string': {
        const choices = (prop !== undefined ? (this.o.stringChoices?.[`${tool}.${prop}`] ?? this.o.stringChoices?.[prop]) : undefined) ?? [];
        if (choices.length > 0) return `(${choices.map((c) => gbnfLiteral(JSON.stringify(c))).join(' | ')})`;
        return this.freeString(typeof schema.minLength === 'number' ? schema.minLength : 0);
      }
      case 'integer':
        return this.integer(nonNegative);
      case 'number':
        return this.number(nonNegative);
      case 'boolean':
        return '("true" | "false")';
      case 'null':
        return '"null"';
      case 'array':
        return this.array(schema, path, depth, tool);
      case 'object':
        return this.object(schema, path, depth, tool, false);
      default:
        return isObj(schema.properties) ? this.object(schema, path, depth, tool, false) : this.scalar();
    }
  }

  private array(schema: Schema, path: string, depth: number, tool: string): string {
    if (depth >= this.maxDepth) return '"[]"';
    const min = typeof schema.minItems === 'number' ? Math.max(0, Math.floor(schema.minItems)) : 0;
    const cap = typeof schema.maxItems === 'number' ? Math.min(schema.maxItems, Math.max(this.maxItems, min)) : Math.max(this.maxItems, min);
    const max = Math.max(min, Math.floor(cap));
    if (max === 0) return '"[]"';
    const item = this.rule(`${path}-item`, this.value(schema.items, `${path}-item`, depth + 1, tool, undefined));
    const more = max > 1 ? ` ("," " " ${item}){${Math.max(0, min - 1)},${max - 1}}` : '';
    const items = min === 0 ? `(${item}${more})?` : `${item}${more}`;
    return this.rule(`${path}-arr`, `"[" ${items} "]"`);
  }

  /** An object with exactly its required properties (in `properties` order, then any others listed). */
  object(schema: Schema, path: string, depth: number, tool: string, top: boolean): string {
    if (!top && depth >= this.maxDepth) return '"{}"';
    const props = isObj(schema.properties) ? schema.properties : {};
    const required = Array.isArray(schema.required) ? schema.required.filter((r): r is string => typeof r === 'string') : [];
    const keys = [...Object.keys(props).filter((k) => required.includes(k)), ...required.filter((r) => !(r in props))];
    const uniq = [...new Set(keys)];
    if (uniq.length === 0) return '"{}"';
    const parts = uniq.map((k, i) => {
      const v = this.value(props[k], `${path}-${k}`, depth + 1, tool, k);
      return `${gbnfLiteral(`${i === 0 ? '' : ', '}${JSON.stringify(k)}: `)} ${v}`;
    });
    return this.rule(`${path}-obj`, `"{" ${parts.join(' ')} "}"`);
  }
}

/** `--tool-grammar` mode: off, `first` (reply to a fresh user turn with a tool call), `always` (whenever tools). */
export type ToolGrammarMode = 'off' | 'first' | 'always';

export const TOOL_GRAMMAR_MODES: readonly ToolGrammarMode[] = ['off', 'first', 'always'];

/**
 * Whether a request gets the grammar. `lastIsFreshUserTurn`: the last message is a user turn with no tool result
 * in it; `first` constrains only then (so the model's reply to a tool result is free).
 */
export function wantsToolGrammar(mode: ToolGrammarMode, hasTools: boolean, lastIsFreshUserTurn: boolean): boolean {
  if (mode === 'off' || !hasTools) return false;
  if (mode === 'always') return true;
  return lastIsFreshUserTurn;
}

/** Parses a newline-separated list of allowed values (blank lines and surrounding whitespace ignored). */
export function parseChoiceList(text: string): string[] {
  return [...new Set(text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== ''))];
}

/**
 * The last turn is a user (or system) turn and no tool result came after the latest assistant turn — i.e. the
 * model is answering a fresh user prompt, not a tool result (works on the HTTP layer's ChatPrompt turns, where an
 * Anthropic tool_result block / OpenAI `tool` message is a `tool` turn).
 */
export function isFreshUserTurn(turns: readonly { role: string }[]): boolean {
  const last = turns[turns.length - 1];
  if (!last || (last.role !== 'user' && last.role !== 'system')) return false;
  for (let i = turns.length - 1; i >= 0; i--) {
    const r = turns[i]!.role;
    if (r === 'tool') return false;
    if (r === 'assistant') return true;
  }
  return true;
}

/** `trace serve --tool-grammar*` settings. */
export interface ToolGrammarConfig extends Omit<ToolGrammarOptions, 'allowedTools'> {
  mode: ToolGrammarMode;
  /** `--tool-grammar-tools`; absent = every tool in the request. */
  allowedTools?: readonly string[];
}

/**
 * The grammar for one request, or undefined when it is not to be constrained: mode off, no tools, the model
 * continues an assistant turn (prefill), `first` and the request answers a tool result, or none of the allowed
 * tools is in the request (e.g. a sub-agent without Read).
 */
export function grammarForPrompt(
  config: ToolGrammarConfig | undefined,
  prompt: { tools: readonly { name: string; parameters?: unknown }[]; turns: readonly { role: string }[] },
): string | undefined {
  if (!config || config.mode === 'off') return undefined;
  if (prompt.turns[prompt.turns.length - 1]?.role === 'assistant') return undefined;
  if (!wantsToolGrammar(config.mode, prompt.tools.length > 0, isFreshUserTurn(prompt.turns))) return undefined;
  if (config.allowedTools && !prompt.tools.some((t) => config.allowedTools!.includes(t.name))) return undefined;
  try {
    return buildToolGrammar(prompt.tools, config);
  } catch (e) {
    if (e instanceof ToolGrammarError) return undefined; // no usable tool (e.g. only nameless ones)
    throw e;
  }
}
