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
import { CONTENT_EXPORT_FORMATS, exportContent } from '../../pipelines/export-content.js';

const FORMATS = [...Object.keys(EXPORTERS), ...Object.keys(CONTENT_EXPORT_FORMATS)];

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
 * `trace export <source> --format claude-code-proxy --out FILE.db`: a claude-code-proxy-compatible SQLite `requests`
 * table with raw bodies from any content source (a compact store included). --json prints { format, out,
 * source_kind, requests, skipped }.
 */
export const registerExport: RegisterCommand = (program: Command, ctx: CliContext) => {
  addBlockSourceOptions(
    program
      .command('export')
      .description('Export a source as block-level traces (kv-cache-tester JSON, Mooncake JSONL) or as a claude-code-proxy requests.db')
      .argument('<source>', 'trace source'),
  )
    .requiredOption('--format <format>', `output format: ${FORMATS.join('|')}`)
    .option('--out <path>', 'output directory (created if needed); for claude-code-proxy a new .db file')
    .option('--anonymize', 'salted hashes, remapped hash/agent/conversation ids (exports never carry content)')
    .option('--json', 'print a JSON summary')
    .action(async (path: string, o: ExportOptions) => {
      if (!FORMATS.includes(o.format)) throw new UsageError(`unknown --format "${o.format}" (known: ${FORMATS.join(', ')})`);
      if (!o.out) throw new UsageError('--out <dir> is required');
      if (CONTENT_EXPORT_FORMATS[o.format]) {
        if (o.anonymize) throw new UsageError(`--anonymize applies to block-level formats; --format ${o.format} exports content`);
        const res = await exportContent(resolveSourcePath(path, ctx.cwd), o.format, resolve(ctx.cwd, o.out), { sourceKind: o.sourceKind }, pipelineDeps(ctx));
        if (o.json) return printJson(ctx, res);
        ctx.stdout(`wrote ${res.requests} requests (${res.skipped} skipped) from ${res.source_kind} to ${res.out}\n`);
        return;
      }
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
