import { resolve } from 'node:path';
import type { Command } from 'commander';
import { pipelineDeps, type CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { importSources, parseSince } from '../../pipelines/import.js';
import { parseDbTarget } from '../../store/target.js';
import { printJson, table } from '../output.js';

interface ImportCliOptions {
  db: string;
  since?: string;
  sourceKind?: string;
  rawBodies?: boolean;
  json?: boolean;
}

/**
 * `trace import <source…> --db <file|postgres://…>`: brings any content source into one store (idempotent; each row
 * marked `import:<kind>`). --json prints { db, sources: [{ path, kind, read, inserted, existing, older, skipped }],
 * rows_before, rows_after, elapsed_ms, compact_bodies }. Bodies are stored compact unless --raw-bodies.
 */
export const registerImport: RegisterCommand = (program: Command, ctx: CliContext) => {
  program
    .command('import')
    .description('Import sources (requests.db, claude-code-proxy DB, Claude Code JSONL, anyclaude, claude-trace) into one store; importing twice adds nothing')
    .argument('<sources...>', 'source paths (files or directories)')
    .requiredOption('--db <target>', 'store to write: a SQLite file (created if missing) or a postgres:// URL')
    .option('--since <when>', 'only requests started since an ISO date or a duration (7d, 12h): incremental imports of ~/.claude/projects')
    .option('--source-kind <kind>', 'importer to use instead of auto-detection')
    .option('--raw-bodies', 'store bodies raw in the requests table (readable by claude-code-proxy) instead of compact deduplicated segments')
    .option('--json', 'print JSON')
    .action(async (paths: string[], o: ImportCliOptions) => {
      const sinceMs = o.since ? parseSince(o.since, ctx.clock.now()) : undefined;
      const res = await importSources(paths.map((p) => resolve(ctx.cwd, p)), parseDbTarget(o.db, ctx.cwd), { sourceKind: o.sourceKind, sinceMs, rawBodies: o.rawBodies }, pipelineDeps(ctx));
      if (o.json) return printJson(ctx, res);
      const secs = res.elapsed_ms / 1000;
      ctx.stdout(
        table(
          ['source', 'kind', 'read', 'inserted', 'already stored', 'older', 'skipped'],
          res.sources.map((s) => [s.path, s.kind, s.read, s.inserted, s.existing, s.older, s.skipped]),
          { title: `import into ${res.db}` },
        ),
      );
      const ins = res.sources.reduce((a, s) => a + s.inserted, 0);
      ctx.stdout(`${res.rows_before} → ${res.rows_after} rows (+${ins}) in ${secs.toFixed(1)} s\n`);
    });
};
