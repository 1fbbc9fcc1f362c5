import { contextTokens } from '../../shared/anthropic.js';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { RegisterCommand } from './index.js';
import { parseInteger } from '../options.js';
import { UsageError } from '../../shared/errors.js';
import { DEFAULT_SYNTH, generateSynthetic } from '../../synth/generate.js';
import { writeSyntheticDb } from '../../synth/write-db.js';
import { fmtNum, printJson, table } from '../output.js';

interface SynthCliOptions {
  out: string;
  seed: string;
  sessions: string;
  subagents: string;
  turns: string;
  force?: boolean;
  json?: boolean;
}

const intOption = (name: string, value: string, min: number, max: number): number => parseInteger(value, `--${name}`, min, max);

/**
 * `trace synth`: writes a deterministic, clearly synthetic requests.db of Claude Code-shaped sessions.
 * --json: { out, bytes, seed, sessions, subagentsPerSession, turnsPerSession, requests, byKind { main, subagent,
 * title }, brokenStreams, firstStartedAtMs, lastEndedAtMs, usage { input_tokens, cache_read_input_tokens,
 * cache_creation_input_tokens, output_tokens }, requestBytes, simulated: true }.
 */
export const registerSynth: RegisterCommand = (program: Command, ctx: CliContext) => {
  program
    .command('synth')
    .description('Generate a synthetic requests.db of realistic Claude Code sessions (usage and timings come from a model, not measurements)')
    .requiredOption('--out <path>', 'database file to write')
    .option('--seed <n>', 'random seed (same seed ⇒ same rows)', String(DEFAULT_SYNTH.seed))
    .option('--sessions <n>', 'number of sessions (staggered, sharing the API cache)', String(DEFAULT_SYNTH.sessions))
    .option('--subagents <n>', 'sub-agents fanned out at once in each session (0 = none)', String(DEFAULT_SYNTH.subagents))
    .option('--turns <n>', 'user turns per session', String(DEFAULT_SYNTH.turns))
    .option('--force', 'replace --out if it exists')
    .option('--json', 'print the summary as JSON')
    .action((opts: SynthCliOptions) => {
      const seed = intOption('seed', opts.seed, 0, 2 ** 32 - 1);
      const sessions = intOption('sessions', opts.sessions, 1, 50);
      const subagents = intOption('subagents', opts.subagents, 0, 16);
      const turns = intOption('turns', opts.turns, 1, 30);
      const out = resolve(ctx.cwd, opts.out);
      const result = generateSynthetic({ seed, sessions, subagents, turns });
      const bytes = writeSyntheticDb(out, result.rows, { force: opts.force });
      const s = result.summary;
      if (opts.json) {
        printJson(ctx, { out, bytes, ...s, simulated: true });
        return;
      }
      const u = s.usage;
      const ctxTokens = contextTokens(u);
      ctx.stdout(
        table(
          ['requests', 'main', 'sub-agent', 'title', 'broken streams', 'span', 'cache read (simulated)', 'file'],
          [[
            s.requests,
            s.byKind.main,
            s.byKind.subagent,
            s.byKind.title,
            s.brokenStreams,
            `${((s.lastEndedAtMs - s.firstStartedAtMs) / 1000).toFixed(0)} s`,
            ctxTokens > 0 ? `${((u.cache_read_input_tokens / ctxTokens) * 100).toFixed(1)}% of ${fmtNum(ctxTokens)} tokens` : '-',
            `${(bytes / 1024 / 1024).toFixed(2)} MB`,
          ]],
          { title: `trace synth → ${out} (seed ${seed}; synthetic: usage/timings from the generator's cache model)` },
        ),
      );
    });
};
