/**
 * A small byte-range JSON scanner for the compact-body codec (src/store/body-codec.ts): it finds where values,
 * object members and array elements start and end in the raw bytes, without building any JS values, so a body can
 * be cut into pieces and glued back byte-exact whatever its whitespace, escapes or key order.
 *
 * It is iterative (a 100k-deep `[[[[…` is fine), checks string termination and bracket nesting, and reads scalars
 * loosely (any run of non-delimiter bytes starting like a number/true/false/null). It throws `JsonScanError` on
 * anything it cannot follow; callers fall back to storing the bytes whole, so a lenient scan never costs
 * exactness, only dedup.
 */

export class JsonScanError extends Error {
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(`${message} at byte ${at}`);
    this.name = 'JsonScanError';
  }
}

/** The JSON structural bytes (a const enum: inlined as numbers). */
const enum Ch {
  Quote = 0x22,
  Backslash = 0x5c,
  LBrace = 0x7b,
  RBrace = 0x7d,
  LBracket = 0x5b,
  RBracket = 0x5d,
  Comma = 0x2c,
  Colon = 0x3a,
}

function isWs(c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

export function skipWs(b: Uint8Array, i: number): number {
  while (i < b.length && isWs(b[i])) i++;
  return i;
}

/** `b[i]` is `"`; returns the index just past the closing quote. */
export function skipString(b: Buffer, i: number): number {
  let j = b.indexOf(Ch.Quote, i + 1);
  while (j !== -1) {
    let k = j - 1;
    while (b[k] === Ch.Backslash) k--;
    if ((j - 1 - k) % 2 === 0) return j + 1; // an even run of backslashes: the quote is not escaped
    j = b.indexOf(Ch.Quote, j + 1);
  }
  throw new JsonScanError('unterminated string', i);
}

function isScalarStart(c: number): boolean {
  return c === 0x2d || (c >= 0x30 && c <= 0x39) || c === 0x74 /* t */ || c === 0x66 /* f */ || c === 0x6e; /* n */
}

function isDelimiter(c: number): boolean {
  return isWs(c) || c === Ch.Comma || c === Ch.RBrace || c === Ch.RBracket || c === Ch.Colon || c === Ch.Quote || c === Ch.LBrace || c === Ch.LBracket;
}

/** Returns the index just past the JSON value that starts at `b[i]` (no leading whitespace). */
export function skipValue(b: Buffer, i: number): number {
  const c = b[i];
  if (c === undefined) throw new JsonScanError('value expected', i);
  if (c === Ch.Quote) return skipString(b, i);
  if (c !== Ch.LBrace && c !== Ch.LBracket) {
    if (!isScalarStart(c)) throw new JsonScanError(`unexpected byte 0x${c.toString(16)}`, i);
    let j = i + 1;
    while (j < b.length && !isDelimiter(b[j]!)) j++;
    return j;
  }
  const stack: number[] = [];
  let j = i;
  while (j < b.length) {
    const d = b[j]!;
    if (d === Ch.Quote) {
      j = skipString(b, j);
      continue;
    }
    if (d === Ch.LBrace || d === Ch.LBracket) stack.push(d);
    else if (d === Ch.RBrace || d === Ch.RBracket) {
      const open = stack.pop();
      if (open !== (d === Ch.RBrace ? Ch.LBrace : Ch.LBracket)) throw new JsonScanError('mismatched bracket', j);
      if (stack.length === 0) return j + 1;
    }
    j++;
  }
  throw new JsonScanError('unterminated container', i);
}

/** One `"key": value` of an object: `keyStart` is the opening quote, `valueEnd` is exclusive. */
export interface MemberRange {
  keyStart: number;
  keyEnd: number;
  valueStart: number;
  valueEnd: number;
}

/** Members of the object at `b[i]` (`{`), and the index just past its `}`. */
export function scanObject(b: Buffer, i: number): { members: MemberRange[]; end: number } {
  if (b[i] !== Ch.LBrace) throw new JsonScanError('object expected', i);
  const members: MemberRange[] = [];
  let j = skipWs(b, i + 1);
  if (b[j] === Ch.RBrace) return { members, end: j + 1 };
  for (;;) {
    if (b[j] !== Ch.Quote) throw new JsonScanError('key expected', j);
    const keyStart = j;
    const keyEnd = skipString(b, j);
    j = skipWs(b, keyEnd);
    if (b[j] !== Ch.Colon) throw new JsonScanError('colon expected', j);
    const valueStart = skipWs(b, j + 1);
    const valueEnd = skipValue(b, valueStart);
    members.push({ keyStart, keyEnd, valueStart, valueEnd });
    j = skipWs(b, valueEnd);
    if (b[j] === Ch.Comma) j = skipWs(b, j + 1);
    else if (b[j] === Ch.RBrace) return { members, end: j + 1 };
    else throw new JsonScanError('comma or } expected', j);
  }
}

/** `[start, end)` of each element of the array at `b[i]` (`[`), and the index just past its `]`. */
export function scanArray(b: Buffer, i: number): { elements: Array<[number, number]>; end: number } {
  if (b[i] !== Ch.LBracket) throw new JsonScanError('array expected', i);
  const elements: Array<[number, number]> = [];
  let j = skipWs(b, i + 1);
  if (b[j] === Ch.RBracket) return { elements, end: j + 1 };
  for (;;) {
    const end = skipValue(b, j);
    elements.push([j, end]);
    j = skipWs(b, end);
    if (b[j] === Ch.Comma) j = skipWs(b, j + 1);
    else if (b[j] === Ch.RBracket) return { elements, end: j + 1 };
    else throw new JsonScanError('comma or ] expected', j);
  }
}

/** Whether the member's key is exactly `"name"` as written (an escaped spelling of the same key does not match). */
export function keyIs(b: Buffer, m: MemberRange, name: string): boolean {
  if (m.keyEnd - m.keyStart !== name.length + 2) return false;
  for (let k = 0; k < name.length; k++) if (b[m.keyStart + 1 + k] !== name.charCodeAt(k)) return false;
  return true;
}
