/**
 * `trace serve`: the built-in inference server (Anthropic Messages + OpenAI Chat Completions over one engine
 * with a real KV prefix cache). Runs until interrupted; prints `listening on http://HOST:PORT` once ready.
 */
import { Option, type Command } from 'commander';
import { resolve } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { freemem } from 'node:os';
import { UsageError, errorMessage } from '../../shared/errors.js';
import { ENGINES, ENGINE_NAMES } from '../../serve/engines/index.js';
import { DEFAULT_MAX_BODY_BYTES, createServeHandler, healthBody } from '../../serve/http/server.js';
import { listen } from '../../serve/listen.js';
import { TOOL_GRAMMAR_MODES, parseChoiceList, type ToolGrammarConfig, type ToolGrammarMode } from '../../serve/tool-grammar.js';
import type { CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { intArg } from '../options.js';


interface ServeOpts {
  engine: string;
  model: string;
  port: number;
  host: string;
  cacheBytes: number;
  maxQueue: number;
  slots: number;
  ctxSize?: number;
  threads?: number;
  defaultMaxTokens: number;
  maxOutputTokens: number;
  maxBodyBytes: number;
  toolGrammar: ToolGrammarMode;
  toolGrammarTools?: string;
  toolGrammarPaths?: string;
  json?: boolean;
  exitWithParent?: boolean;
}

export const registerServe: RegisterCommand = (program: Command, ctx: CliContext) => {
  program
    .command('serve')
    .description('Run the built-in inference server (Anthropic /v1/messages + OpenAI /v1/chat/completions) with a KV prefix cache')
    .addOption(new Option('--engine <name>', 'inference engine').choices(ENGINE_NAMES).default('llama'))
    .requiredOption('--model <path>', 'model file (GGUF for llama) or directory / repo id (mlx)')
    .option('--port <n>', 'port (0 = any free port)', intArg('--port', 0), 8080)
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--cache-bytes <n>', 'KV prompt-cache budget in bytes (0 disables prefix caching)', intArg('--cache-bytes', 0), 2 ** 30)
    .option('--max-queue <n>', 'requests that may wait for a slot before 529/503', intArg('--max-queue', 0), 16)
    .option('--slots <n>', 'concurrent generations (engine sequences)', intArg('--slots', 1), 2)
    .option('--ctx-size <n>', 'context size in tokens (default: the engine’s choice)', intArg('--ctx-size', 16))
    .option('--threads <n>', 'CPU threads for the engine', intArg('--threads', 1))
    .option('--default-max-tokens <n>', 'max_tokens for OpenAI requests that set none', intArg('--default-max-tokens', 1), 1024)
    .option('--max-output-tokens <n>', 'server cap on generated tokens per request; hitting it ends the turn (stop_reason end_turn), for test models that never emit EOS (0 = no cap)', intArg('--max-output-tokens', 0), 0)
    .addOption(new Option('--tool-grammar <mode>', 'constrain replies to one well-formed tool call (llama engine; a demo device for random/tiny models): first = when answering a user turn that is not a tool result, always = whenever the request has tools').choices(TOOL_GRAMMAR_MODES).default('off'))
    .option('--tool-grammar-tools <names>', 'comma-separated tools the grammar may call (default: all in the request)')
    .option('--tool-grammar-paths <file>', 'file of newline-separated allowed values for file_path arguments')
    .option('--max-body-bytes <n>', 'largest accepted request body; larger ones get 413 request_too_large', intArg('--max-body-bytes', 1), DEFAULT_MAX_BODY_BYTES)
    .option('--json', 'print the final summary as JSON (the listening line then goes to stderr)')
    .option('--exit-with-parent', 'shut down when stdin closes: `trace replay --model` starts its servers so, and a replay killed even with SIGKILL leaves none behind')
    .action(async (o: ServeOpts) => {
      let toolGrammar: ToolGrammarConfig | undefined;
      if (o.toolGrammar !== 'off') {
        if (o.engine !== 'llama') throw new UsageError(`--tool-grammar needs --engine llama (${o.engine} has no grammar-constrained sampling)`);
        const tools = o.toolGrammarTools?.split(',').map((t) => t.trim()).filter((t) => t !== '');
        let paths: string[] | undefined;
        if (o.toolGrammarPaths !== undefined) {
          try {
            paths = parseChoiceList(readFileSync(resolve(ctx.cwd, o.toolGrammarPaths), 'utf8'));
          } catch (e) {
            throw new UsageError(`--tool-grammar-paths ${o.toolGrammarPaths}: ${errorMessage(e)}`);
          }
          if (paths.length === 0) throw new UsageError(`--tool-grammar-paths ${o.toolGrammarPaths}: no paths in the file`);
        }
        toolGrammar = { mode: o.toolGrammar, ...(tools && tools.length > 0 ? { allowedTools: tools } : {}), ...(paths ? { stringChoices: { file_path: paths } } : {}) };
      } else if (o.toolGrammarTools !== undefined || o.toolGrammarPaths !== undefined) {
        throw new UsageError('--tool-grammar-tools / --tool-grammar-paths need --tool-grammar first|always');
      }
      const factory = ENGINES[o.engine];
      if (!factory) throw new UsageError(`unknown engine ${o.engine} (known: ${ENGINE_NAMES.join(', ')})`);
      const modelPath = o.engine === 'llama' ? resolve(ctx.cwd, o.model) : o.model;
      if (o.engine === 'llama' && !existsSync(modelPath)) throw new UsageError(`--model ${o.model}: no such file`);
      const engine = await factory({
        modelPath,
        cacheBytes: o.cacheBytes,
        slots: o.slots,
        ...(o.ctxSize !== undefined ? { contextSize: o.ctxSize } : {}),
        ...(o.threads !== undefined ? { threads: o.threads } : {}),
        freeMemoryBytes: freemem(),
        ...(o.engine === 'mlx' ? { mlx: { baseEnv: ctx.env } } : {}),
        logger: ctx.logger,
      });
      let server;
      try {
        const handler = createServeHandler({ engine, slots: o.slots, maxQueue: o.maxQueue, defaultMaxTokens: o.defaultMaxTokens, maxOutputTokens: o.maxOutputTokens, maxBodyBytes: o.maxBodyBytes, ...(toolGrammar ? { toolGrammar } : {}), clock: ctx.clock, logger: ctx.logger });
        server = await listen(handler, { host: o.host, port: o.port, onError: (e) => ctx.logger.warn(`request failed: ${errorMessage(e)}`) });
        const line = `listening on ${server.url}\n`;
        const info = engine.info;
        const contextLine = `context ${info.contextSize} tokens: ${info.contextChoice?.reason ?? 'engine default'}\n`;
        if (o.json) {
          ctx.stderr(line + contextLine);
          // one JSON line once ready (a supervising process reads it), the summary line at exit
          ctx.stdout(JSON.stringify({ event: 'ready', url: server.url, ...healthBody(info), slots: o.slots, cache_bytes: o.cacheBytes }) + '\n');
        } else ctx.stdout(contextLine + line);
        ctx.logger.info(`engine ${info.engine}, model ${info.modelId}, template ${info.chatTemplate}, cache ${o.cacheBytes} bytes`);
        await new Promise<void>((r) => {
          if (ctx.interrupted.aborted) return r();
          ctx.interrupted.addEventListener('abort', () => r(), { once: true });
          if (o.exitWithParent && ctx.stdinEnded) {
            void ctx.stdinEnded().then(() => {
              ctx.logger.info('stdin closed (--exit-with-parent): shutting down');
              r();
            });
          }
        });
        const snap = handler.metrics.snapshot(engine.cacheStats(), { active: handler.queue.active, depth: handler.queue.depth, rejected: handler.queue.rejected, slots: handler.queue.slots, maxQueue: handler.queue.maxQueue });
        const summary = { url: server.url, engine: engine.info.engine, model: engine.info.modelId, ...snap };
        if (o.json) ctx.stdout(JSON.stringify({ event: 'summary', ...summary }) + '\n');
        else ctx.stdout(`served ${snap.requests} requests (${snap.errors} errors); cache hits ${snap.cache.hits}, misses ${snap.cache.misses}, cached tokens ${snap.cache.cached_tokens}\n`);
      } finally {
        await server?.close();
        await engine.close();
      }
    });
};
