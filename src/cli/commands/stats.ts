import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { openStore } from '../../store/store.js';
import { parseDbTarget } from '../../store/target.js';
import { storeStats } from '../../store/retention.js';
import { fmtNum, printJson, table } from '../output.js';

const MB = 1024 * 1024;

/**
 * `trace stats [db]`: rows, sessions, capturers, states, bytes by table and the body compaction ratio of a store
 * (SQLite file or postgres:// URL). Read-only. --json: StoreStats (src/store/retention.ts) plus `db`.
 */
export const registerStats: RegisterCommand = (program: Command, ctx: CliContext) => {
  program
    .command('stats')
    .description('Size of a store: rows, sessions, bytes by table, body compaction ratio (SQLite file or postgres:// URL)')
    .argument('[db]', 'requests.db or postgres://user@host/db', 'requests.db')
    .option('--json', 'print JSON')
    .action(async (dbArg: string, opts: { json?: boolean }) => {
      const target = parseDbTarget(dbArg, ctx.cwd);
      const store = await openStore(target, { readonly: true, mustExist: true, logger: ctx.logger });
      try {
        const s = await storeStats(store);
        if (opts.json) return printJson(ctx, { db: target.display, ...s });
        const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().slice(0, 19).replace('T', ' '));
        ctx.stdout(
          table(
            ['rows', 'sessions', 'capturers', 'first', 'last', 'states'],
            [[s.rows, s.sessions, s.capturers, when(s.firstStartedAtMs), when(s.lastStartedAtMs), Object.entries(s.states).map(([k, v]) => `${k} ${v}`).join(', ')]],
            { title: `${target.display} (${s.dialect}): ${fmtNum(s.totalBytes / MB, 1)} MB` },
          ) +
            table(
              ['table', 'MB'],
              Object.entries(s.bytesByTable).sort((a, b) => b[1] - a[1]).map(([t, b]) => [t, fmtNum(b / MB, 2)]),
            ) +
            table(
              ['bodies', 'compact rows', 'raw MB', 'stored MB', 'compaction'],
              [['', s.bodies.compactRows, fmtNum(s.bodies.rawBytes / MB, 2), fmtNum(s.bodies.storedBytes / MB, 2), s.bodies.compactionRatio === null ? '-' : `${fmtNum(s.bodies.compactionRatio, 2)}×`]],
            ),
        );
      } finally {
        await store.close();
      }
    });
};
