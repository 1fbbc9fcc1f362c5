/**
 * Header recording in claude-code-proxy's shape (`{ name: [values] }`, Go http.Header-like, names lower-cased)
 * with secrets replaced by `sha256:<first 16 hex of sha256(value)>` — never stored in plain text. The hash lets
 * you tell keys apart (same key → same hash) without keeping them. The same rule covers query-string
 * parameters (`?key=…`, `api_key`, `access_token`, signatures) in recorded URLs.
 */
import { createHash } from 'node:crypto';

/** Request header names whose values are secrets. */
const ALWAYS_SECRET = new Set(['x-api-key', 'authorization', 'cookie', 'set-cookie', 'proxy-authorization']);
const SECRET_PATTERN = /key|token|secret|auth|credential|password|passwd|cookie/i;
/** Query parameters: the header rule plus the short names signed URLs use. */
const SECRET_QUERY_PATTERN = /key|token|secret|auth|credential|password|passwd|cookie|signature|^sig$|^code$/i;

export function hashSecret(value: string): string {
  return `sha256:${createHash('sha256').update(value).digest('hex').slice(0, 16)}`;
}

/** True when a request header's value must be hashed. */
export function isSecretHeader(name: string): boolean {
  const n = name.toLowerCase();
  return ALWAYS_SECRET.has(n) || SECRET_PATTERN.test(n);
}

/**
 * Response headers: the same rule, except the API's public rate-limit counters
 * (`anthropic-ratelimit-*-tokens-*` would match /token/ but are not secrets).
 */
export function isSecretResponseHeader(name: string): boolean {
  const n = name.toLowerCase();
  if (n.startsWith('anthropic-ratelimit-')) return false;
  return isSecretHeader(n);
}

/** True when a query parameter's value must be hashed. */
export function isSecretQueryParam(name: string): boolean {
  return SECRET_QUERY_PATTERN.test(name);
}

function decodeQueryPart(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s; // malformed %-escape: the text as sent
  }
}

/**
 * The URL with the values of secret query parameters replaced by their hash (of the decoded value, so `?key=X`
 * and `x-api-key: X` hash alike); everything else is kept exactly as written.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const hashAt = url.indexOf('#', q);
  const query = url.slice(q + 1, hashAt < 0 ? undefined : hashAt);
  const parts = query.split('&').map((part) => {
    const eq = part.indexOf('=');
    if (eq < 0) return part;
    const name = decodeQueryPart(part.slice(0, eq));
    return isSecretQueryParam(name) ? `${part.slice(0, eq)}=${hashSecret(decodeQueryPart(part.slice(eq + 1)))}` : part;
  });
  return `${url.slice(0, q + 1)}${parts.join('&')}${hashAt < 0 ? '' : url.slice(hashAt)}`;
}

type HeaderSource = Headers | Record<string, string | string[] | undefined> | Iterable<[string, string]>;

function entries(h: HeaderSource): [string, string][] {
  const out: [string, string][] = [];
  if (h instanceof Headers) {
    h.forEach((v, k) => {
      if (k !== 'set-cookie') out.push([k, v]);
    });
    for (const c of h.getSetCookie()) out.push(['set-cookie', c]);
    return out;
  }
  if (Symbol.iterator in (h as object)) {
    for (const [k, v] of h as Iterable<[string, string]>) out.push([k, v]);
    return out;
  }
  for (const [k, v] of Object.entries(h as Record<string, string | string[] | undefined>)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push([k, x]);
    else out.push([k, v]);
  }
  return out;
}

/** `{ name: [values] }` with secret values hashed. */
export function recordHeaders(h: HeaderSource, isSecret: (name: string) => boolean = isSecretHeader): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of entries(h)) {
    const name = k.toLowerCase();
    (out[name] ??= []).push(isSecret(name) ? hashSecret(v) : v);
  }
  return out;
}
