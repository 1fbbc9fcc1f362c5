import type { SourceImporter } from './source.js';
import { isSqlite, openSqliteSource, sqliteFlavour } from './sqlite-source.js';

/**
 * `trace-db`: a requests.db written by `trace capture` (claude-code-proxy's table plus our columns:
 * timing, usage, raw SSE events). Opened read-only; rows stream in capture order.
 */
export const traceDbImporter: SourceImporter = {
  kind: 'trace-db',
  description: "requests.db written by trace capture (SQLite)",
  level: 'content',
  detect: (p) => isSqlite(p) && sqliteFlavour(p.path) === 'trace',
  open: (path, options) => openSqliteSource(path, 'trace-db', options),
};
