/**
 * `trace model tiny --out FILE`: writes a tiny random-weight llama GGUF (byte-level vocabulary, chatml
 * template) for testing `trace serve` / the engines without downloading weights. Its output text is noise.
 */
import { Option, type Command } from 'commander';
import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { UsageError, errorMessage } from '../../shared/errors.js';
import { BUNDLED_TEMPLATE_NAMES, bundledTemplate, isBundledTemplate } from '../../serve/templates/index.js';
import { writeTinyModel } from '../../serve/gguf/tiny-model.js';
import type { CliContext } from '../context.js';
import { printJson, table, fmtNum } from '../output.js';
import type { RegisterCommand } from './index.js';
import { intArg } from '../options.js';


export const registerModel: RegisterCommand = (program: Command, ctx: CliContext) => {
  const model = program.command('model').description('Model files for the built-in inference server');
  model
    .command('tiny')
    .description('Write a tiny random-weight llama GGUF (byte-level vocab, chatml template) for tests and benches')
    .requiredOption('--out <file>', 'output .gguf path')
    .option('--layers <n>', 'transformer blocks', intArg('--layers', 1), 2)
    .option('--dim <n>', 'embedding width', intArg('--dim', 8), 64)
    .option('--heads <n>', 'attention heads (default 4, or dim/64 when dim ≥ 256)', intArg('--heads', 1))
    .option('--ff <n>', 'feed-forward width (default 4 × dim)', intArg('--ff', 1))
    .option('--context <n>', 'trained context length written to the file', intArg('--context', 16), 8192)
    .addOption(new Option('--vocab <kind>', 'vocabulary').choices(['bytes']).default('bytes'))
    .option('--f16', 'store matrices as f16 (default f32)', false)
    .option('--seed <n>', 'weights seed', intArg('--seed', 0), 1)
    .option('--chat-template <name|file>', `Jinja chat template to embed: a bundled real one (${BUNDLED_TEMPLATE_NAMES.join(', ')}) or a file (default: minimal chatml)`)
    .option('--json', 'print the result as JSON')
    .action((o: { out: string; layers: number; dim: number; heads?: number; ff?: number; context: number; f16: boolean; seed: number; chatTemplate?: string; json?: boolean }) => {
      const out = resolve(ctx.cwd, o.out);
      let chatTemplate: string | undefined;
      if (o.chatTemplate !== undefined) {
        if (isBundledTemplate(o.chatTemplate)) chatTemplate = bundledTemplate(o.chatTemplate);
        else {
          try {
            chatTemplate = readFileSync(resolve(ctx.cwd, o.chatTemplate), 'utf8');
          } catch (e) {
            throw new UsageError(`--chat-template ${o.chatTemplate}: not a bundled template (${BUNDLED_TEMPLATE_NAMES.join(', ')}) nor a readable file: ${errorMessage(e)}`);
          }
        }
      }
      let shape;
      try {
        shape = writeTinyModel(out, {
          layers: o.layers,
          dim: o.dim,
          ...(o.heads !== undefined ? { heads: o.heads } : {}),
          ...(o.ff !== undefined ? { ff: o.ff } : {}),
          contextLength: o.context,
          seed: o.seed,
          f16: o.f16,
          ...(chatTemplate !== undefined ? { chatTemplate } : {}),
        });
      } catch (e) {
        if (e instanceof RangeError) throw new UsageError(e.message);
        throw e;
      }
      const result = { path: out, ...shape, chatTemplate: o.chatTemplate ?? 'chatml' };
      if (o.json) return printJson(ctx, result);
      ctx.stdout(
        table(
          ['path', 'layers', 'dim', 'heads', 'ff', 'vocab', 'context', 'weights', 'parameters', 'bytes'],
          [[out, shape.layers, shape.dim, shape.heads, shape.ff, shape.vocab, shape.contextLength, shape.weightType, fmtNum(shape.parameters), fmtNum(shape.bytes)]],
        ),
      );
    });
};
