import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { UsageError } from '../../shared/errors.js';
import { openStore } from '../../store/store.js';
import { parseDbTarget } from '../../store/target.js';
import { pruneRequests } from '../../store/retention.js';
import { parseInteger } from '../options.js';
import { printJson, table } from '../output.js';

interface PruneOptions {
  before?: string;
  keepDays?: string;
  dryRun?: boolean;
  json?: boolean;
}

const DAY_MS = 86_400_000;

/** The cut-off instant of --before DATE | --keep-days N (exactly one). */
function cutoff(o: PruneOptions, nowMs: number): number {
  if ((o.before === undefined) === (o.keepDays === undefined)) throw new UsageError('give exactly one of --before DATE or --keep-days N');
  if (o.keepDays !== undefined) return nowMs - parseInteger(o.keepDays, '--keep-days', 0) * DAY_MS;
  const t = Date.parse(o.before!);
  if (!Number.isFinite(t)) throw new UsageError(`--before must be a date (2026-01-31 or an ISO timestamp), got ${JSON.stringify(o.before)}`);
  return t;
}

/**
 * `trace prune [db] --before DATE | --keep-days N`: deletes requests older than the cut-off, their conversation-index
 * rows and the body segments nothing references any more; `trace vacuum` then gives the space back.
 * --json: { db, before, requests, conversationIndexRows, bodySegments, dryRun }.
 */
export const registerPrune: RegisterCommand = (program: Command, ctx: CliContext) => {
  program
    .command('prune')
    .description('Delete requests older than a date (or than N days) from a store, with their index rows and unreferenced body segments')
    .argument('[db]', 'requests.db or postgres://user@host/db', 'requests.db')
    .option('--before <date>', 'delete requests that started before this date / ISO timestamp')
    .option('--keep-days <n>', 'keep only the last N days')
    .option('--dry-run', 'count what would be deleted, delete nothing')
    .option('--json', 'print JSON')
    .action(async (dbArg: string, opts: PruneOptions) => {
      const beforeMs = cutoff(opts, Date.now());
      const target = parseDbTarget(dbArg, ctx.cwd);
      const store = await openStore(target, { mustExist: true, logger: ctx.logger });
      try {
        const r = await pruneRequests(store, { beforeMs, dryRun: opts.dryRun });
        if (opts.json) return printJson(ctx, { db: target.display, ...r });
        ctx.stdout(
          table(['requests', 'index rows', 'body segments'], [[r.requests, r.conversationIndexRows, r.bodySegments]], {
            title: `${target.display}: ${r.dryRun ? 'would delete' : 'deleted'} requests before ${r.before}`,
          }),
        );
      } finally {
        await store.close();
      }
    });
};
