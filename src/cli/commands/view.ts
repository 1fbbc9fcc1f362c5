import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { parseInteger } from '../options.js';
import { UsageError } from '../../shared/errors.js';
import { listen } from '../../capture/listen.js';
import { createSourceUi } from '../../view/live-view.js';
import { printJson } from '../output.js';

interface ViewOptions {
  port: string;
  host: string;
  sourceKind?: string;
  json?: boolean;
}

export const DEFAULT_VIEW_PORT = 8083;

/**
 * `trace view <source>`: the live view's page for a finished source (requests.db, claude-code-proxy DB, Claude
 * Code JSONL, …) at http://127.0.0.1:8083/_trace/ until interrupted. --json prints { url, requests } once listening.
 */
export const registerView: RegisterCommand = (program: Command, ctx: CliContext) => {
  program
    .command('view')
    .description('Serve the conversation explorer of a finished source in the browser (local only by default)')
    .argument('<source>', 'requests.db, claude-code-proxy DB, anyclaude traces, or Claude Code JSONL (file/dir)')
    .option('--port <n>', 'port to listen on (0 = a free port)', String(DEFAULT_VIEW_PORT))
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--source-kind <kind>', 'force the importer')
    .option('--json', 'print { url, requests } as JSON once listening')
    .action(async (path: string, opts: ViewOptions) => {
      const port = parseInteger(String(opts.port), '--port', 0, 65535);
      const view = await createSourceUi(resolve(ctx.cwd, path), { sourceKind: opts.sourceKind, logger: ctx.logger, signal: ctx.interrupted });
      const handler = (req: Request) =>
        new URL(req.url).pathname.startsWith('/_trace/') ? view.ui(req) : Promise.resolve(Response.redirect(new URL('/_trace/', req.url), 302));
      let server;
      try {
        server = await listen(handler, { port, host: opts.host, onError: (e) => ctx.logger.error(`view: ${String(e)}`) });
      } catch (e) {
        view.close();
        throw new UsageError(`cannot listen on ${opts.host}:${port}: ${(e as Error).message}`);
      }
      const url = `${server.url}/_trace/`;
      if (opts.json) printJson(ctx, { url, requests: view.requests });
      else ctx.stdout(`${view.requests} requests: open ${url} (Ctrl-C to stop)\n`);
      await new Promise<void>((r) => {
        if (ctx.interrupted.aborted) return r();
        ctx.interrupted.addEventListener('abort', () => r(), { once: true });
      });
      view.close();
      await server.close();
    });
};
