import type { SourceImporter } from './source.js';
import { isSqlite, openSqliteSource, sqliteFlavour } from './sqlite-source.js';

/**
 * `cc-proxy-db`: claude-code-proxy's requests.db (same `requests` table, none of our columns). Usage, model,
 * stop reason and message id are recovered from the `response` JSON: `body` for non-streaming responses,
 * `streamingChunks` (bare `data` payloads or full `event:`/`data:` lines) reassembled for streaming ones.
 * Opened READ-ONLY: analysing a claude-code-proxy database never modifies it (no migration).
 */
export const ccProxyDbImporter: SourceImporter = {
  kind: 'cc-proxy-db',
  description: "claude-code-proxy's requests.db (SQLite, read-only)",
  level: 'content',
  detect: (p) => isSqlite(p) && sqliteFlavour(p.path) === 'cc-proxy',
  open: (path, options) => openSqliteSource(path, 'cc-proxy-db', options),
};
