import { resolve } from 'node:path';
import { UsageError } from '../shared/errors.js';

/**
 * The one place a `--db` value (or a source path) becomes a dialect: `postgres://…` / `postgresql://…` is a
 * Postgres server, anything else a SQLite file path (relative to `cwd`).
 */
export type DbTarget =
  | { readonly dialect: 'sqlite'; readonly path: string; readonly display: string }
  | { readonly dialect: 'postgres'; readonly url: string; readonly display: string };

export function isPostgresUrl(value: string): boolean {
  return /^postgres(ql)?:\/\//i.test(value);
}

/** The URL without its password (for messages, summaries and --json). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
  }
}

export function parseDbTarget(value: string, cwd: string): DbTarget {
  if (value.trim() === '') throw new UsageError('--db must be a SQLite file path or a postgres:// URL');
  if (isPostgresUrl(value)) {
    try {
      new URL(value);
    } catch {
      throw new UsageError(`--db: not a valid postgres URL: ${redactUrl(value)}`);
    }
    return { dialect: 'postgres', url: value, display: redactUrl(value) };
  }
  const path = resolve(cwd, value);
  return { dialect: 'sqlite', path, display: path };
}

/** A source argument as the importers take it: a postgres:// URL as is, a path made absolute. */
export function resolveSourcePath(value: string, cwd: string): string {
  return isPostgresUrl(value) ? value : resolve(cwd, value);
}
