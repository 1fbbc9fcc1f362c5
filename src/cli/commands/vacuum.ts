import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { openStore } from '../../store/store.js';
import { parseDbTarget } from '../../store/target.js';
import { vacuumStore } from '../../store/retention.js';
import { fmtNum, printJson, table } from '../output.js';

/**
 * `trace vacuum [db]`: gives space back after a prune (SQLite: WAL checkpoint + VACUUM; Postgres: VACUUM ANALYZE,
 * or VACUUM FULL with --full). --json: { db, bytesBefore, bytesAfter, full }.
 */
export const registerVacuum: RegisterCommand = (program: Command, ctx: CliContext) => {
  program
    .command('vacuum')
    .description('Give space back after a prune (SQLite VACUUM; Postgres VACUUM ANALYZE, --full rewrites and locks the tables)')
    .argument('[db]', 'requests.db or postgres://user@host/db', 'requests.db')
    .option('--full', 'Postgres: VACUUM FULL (shrinks the files; locks each table while it runs)')
    .option('--json', 'print JSON')
    .action(async (dbArg: string, opts: { full?: boolean; json?: boolean }) => {
      const target = parseDbTarget(dbArg, ctx.cwd);
      const store = await openStore(target, { mustExist: true, logger: ctx.logger });
      try {
        const r = await vacuumStore(store, { full: opts.full });
        if (opts.json) return printJson(ctx, { db: target.display, ...r });
        const mb = (b: number) => fmtNum(b / 1024 / 1024, 2);
        ctx.stdout(table(['MB before', 'MB after'], [[mb(r.bytesBefore), mb(r.bytesAfter)]], { title: `${target.display}: vacuumed` }));
      } finally {
        await store.close();
      }
    });
};
