import { hostname, userInfo } from 'node:os';
import type { Command } from 'commander';
import { Agent } from 'undici';
import type { CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { parseInteger, parseNumber } from '../options.js';
import { UsageError } from '../../shared/errors.js';
import { openStore } from '../../store/store.js';
import { parseDbTarget } from '../../store/target.js';
import { createCaptureHandler, type CaptureHandler } from '../../capture/capture-handler.js';
import { createStoreWriter } from '../../capture/request-writer.js';
import { listen } from '../../capture/listen.js';
import { printJson, table } from '../output.js';
import { createCaptureUi } from '../../view/live-view.js';

interface CaptureOptions {
  upstream: string;
  port: string;
  host: string;
  db: string;
  shutdownGrace: string;
  ui?: boolean;
  compactBodies?: boolean;
  json?: boolean;
}

export const DEFAULT_CAPTURE_PORT = 8082;
/** Seconds in-flight requests may go on finishing after Ctrl-C / SIGTERM before they are cut. */
export const DEFAULT_SHUTDOWN_GRACE_S = 10;

/**
 * `trace capture`: a recording reverse proxy in front of the Anthropic API. Runs until interrupted, then prints
 * a summary (JSON with --json: { url, upstream, db, requests, inFlight, complete, errors, aborted, cut, dbWriteErrors,
 * recordErrors }).
 */
export const registerCapture: RegisterCommand = (program: Command, ctx: CliContext) => {
  program
    .command('capture')
    .description('Run a recording proxy: forward Anthropic API traffic to --upstream and record every request into a requests.db')
    .option('--upstream <url>', 'upstream API base URL', 'https://api.anthropic.com')
    .option('--port <n>', `port to listen on (0 = a free port)`, String(DEFAULT_CAPTURE_PORT))
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--db <path|url>', 'where to record: a SQLite file (created/migrated if needed) or postgres://user@host/db (shared by a team)', 'requests.db')
    .option('--shutdown-grace <s>', 'on Ctrl-C/SIGTERM, seconds in-flight requests may go on finishing before they are cut (recorded as aborted)', String(DEFAULT_SHUTDOWN_GRACE_S))
    .option('--compact-bodies', 'store bodies as compact deduplicated segments (encoded after each response is forwarded); default raw, readable by claude-code-proxy')
    .option('--ui', 'serve a live view of the traffic at /_trace/ on the proxy’s own port (never forwarded)')
    .option('--json', 'print the final summary as JSON (the listening line then goes to stderr)')
    .action(async (opts: CaptureOptions) => {
      let upstream: URL;
      try {
        upstream = new URL(opts.upstream);
      } catch {
        throw new UsageError(`--upstream must be an absolute http(s) URL, got ${JSON.stringify(opts.upstream)}`);
      }
      if (upstream.protocol !== 'http:' && upstream.protocol !== 'https:') {
        throw new UsageError(`--upstream must be http or https, got ${upstream.protocol}`);
      }
      const port = parseInteger(String(opts.port), '--port', 0, 65535);
      const graceS = parseNumber(String(opts.shutdownGrace), '--shutdown-grace', { min: 0 });
      const target = parseDbTarget(opts.db, ctx.cwd);
      const dbPath = target.display;
      const store = await openStore(target, { logger: ctx.logger });
      const dispatcher = new Agent({ keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0, connections: 256 });
      let handler: CaptureHandler | undefined;
      // Every row carries the capturing machine and OS user (several proxies may share one Postgres).
      const origin = { origin: 'capture', host: hostname(), user: osUser() };
      const writer = createStoreWriter(store, { origin, compactBodies: opts.compactBodies, onError: (e, row) => handler?.reportWriteError(row.state ?? 'row', e) });
      // The live view reads older rows back from a SQLite store; on Postgres it shows the rows it saw go by.
      const live = opts.ui ? createCaptureUi(store.sqlite, ctx.logger) : null;
      handler = createCaptureHandler({ upstream: upstream.href, writer, dispatcher, clock: ctx.clock, logger: ctx.logger, onRow: live?.onRow, ui: live?.ui });
      let server;
      try {
        server = await listen(handler!, { port, host: opts.host, onError: (e) => ctx.logger.error(`capture: ${String(e)}`), onWarning: (m) => ctx.logger.warn(`capture: ${m}`) });
      } catch (e) {
        await store.close();
        await dispatcher.close();
        throw new UsageError(`cannot listen on ${opts.host}:${port}: ${(e as Error).message}`);
      }
      const line = `listening on ${server.url}\n${live ? `live view: ${server.url}/_trace/\n` : ''}`;
      if (opts.json) ctx.stderr(line);
      else ctx.stdout(line);
      ctx.logger.info(`capture: forwarding to ${upstream.href}, recording into ${dbPath}`);

      await new Promise<void>((r) => {
        if (ctx.interrupted.aborted) return r();
        ctx.interrupted.addEventListener('abort', () => r(), { once: true });
      });
      // Stop accepting, let in-flight requests finish (bounded), then cut the rest: they are recorded as aborted
      // with "cut by proxy shutdown" (and what was seen of their response), never lost.
      server.server.close();
      server.server.closeIdleConnections();
      if (handler!.stats.inFlight > 0) {
        ctx.logger.info(`capture: waiting up to ${graceS} s for ${handler!.stats.inFlight} in-flight request(s) (Ctrl-C again quits now; their rows stay pending)`);
      }
      await handler!.shutdown({ graceMs: graceS * 1000 });
      live?.close();
      await server.close();
      await dispatcher.destroy().catch((e: unknown) => ctx.logger.debug(`capture: closing upstream connections: ${String(e)}`));
      await writer.flush();
      await store.close();
      const s = handler!.stats;
      const summary = { url: server.url, upstream: upstream.href, db: dbPath, ...s };
      if (opts.json) printJson(ctx, summary);
      else
        ctx.stdout(
          table(
            ['requests', 'complete', 'errors', 'aborted', 'cut at shutdown', 'in flight', 'db write errors'],
            [[s.requests, s.complete, s.errors, s.aborted, s.cut, s.inFlight, s.dbWriteErrors]],
            { title: `capture ${server.url} → ${upstream.href} (${dbPath})` },
          ),
        );
    });
};

function osUser(): string | null {
  try {
    return userInfo().username;
  } catch {
    return null; // no passwd entry for this uid (containers)
  }
}
