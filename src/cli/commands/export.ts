import { randomBytes } from 'node:crypto';
import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { UsageError } from '../../shared/errors.js';
import { EXPORTERS, anonymizeBlocks, exportBlocks } from '../../store/exporters/index.js';
import { loadBlockSource } from '../../pipelines/block-source.js';
import { addBlockSourceOptions, blockSourceOptions, type BlockSourceCliOptions } from '../options.js';
import { pipelineDeps } from '../context.js';
import { printJson } from '../output.js';
import { resolveSourcePath } from '../../store/target.js';

interface ExportOptions extends BlockSourceCliOptions {
  format: string;
  out?: string;
  anonymize?: boolean;
  json?: boolean;
}

/**
 * `trace export <source> --format kv-cache-tester|mooncake --out DIR [--anonymize]`: block-level traces for
 * kv-cache-tester and Mooncake-style replayers. --json prints { format, out, files, requests, unique_blocks,
 * block_size, anonymized }.
 */
export const registerExport: RegisterCommand = (program: Command, ctx: CliContext) => {
  addBlockSourceOptions(
    program
      .command('export')
      .description('Export a source as block-level traces (kv-cache-tester JSON or Mooncake JSONL)')
      .argument('<source>', 'trace source'),
  )
    .requiredOption('--format <format>', `output format: ${Object.keys(EXPORTERS).join('|')}`)
    .option('--out <dir>', 'output directory (created if needed)')
    .option('--anonymize', 'salted hashes, remapped hash/agent/conversation ids (exports never carry content)')
    .option('--json', 'print a JSON summary')
    .action(async (path: string, o: ExportOptions) => {
      if (!EXPORTERS[o.format]) throw new UsageError(`unknown --format "${o.format}" (known: ${Object.keys(EXPORTERS).join(', ')})`);
      if (!o.out) throw new UsageError('--out <dir> is required');
      const salt = o.anonymize ? randomBytes(16).toString('hex') : '';
      const src = await loadBlockSource(resolveSourcePath(path, ctx.cwd), { ...blockSourceOptions(o), salt }, pipelineDeps(ctx));
      const reqs = o.anonymize ? anonymizeBlocks(src.requests) : src.requests;
      const dir = resolve(ctx.cwd, o.out);
      const name = o.anonymize ? 'trace' : basename(src.path).replace(/\.[^.]+$/, '');
      const files = exportBlocks(o.format, reqs, dir, name);
      const summary = {
        format: o.format,
        out: dir,
        files,
        requests: reqs.length,
        unique_blocks: src.uniqueBlocks,
        block_size: src.blockSize,
        anonymized: Boolean(o.anonymize),
      };
      if (o.json) return printJson(ctx, summary);
      ctx.stdout(`wrote ${files.length} file(s) (${reqs.length} requests, block size ${src.blockSize}) to ${dir}\n`);
      for (const f of files) ctx.stdout(`  ${f}\n`);
    });
};
