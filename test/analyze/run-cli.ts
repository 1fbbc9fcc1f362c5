import { main } from '../../src/cli/main.js';
import { ManualClock } from '../../src/shared/clock.js';
import { memoryLogger } from '../../src/shared/logger.js';
import type { CliContext } from '../../src/cli/context.js';

/** Runs the CLI in-process with a captured context. */
export async function runCli(args: string[], cwd = process.cwd()): Promise<{ code: number; stdout: string; stderr: string; warnings: string[] }> {
  let stdout = '';
  let stderr = '';
  const logger = memoryLogger();
  const ctx: CliContext & { shutdown: () => Promise<void> } = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    env: {},
    cwd,
    isTTY: false,
    clock: new ManualClock(Date.parse('2026-11-30T00:00:00Z')),
    logger,
    interrupted: new AbortController().signal,
    onShutdown: () => {},
    shutdown: async () => {},
  };
  const code = await main(['node', 'trace', ...args], ctx);
  return { code, stdout, stderr, warnings: logger.lines.filter((l) => l.startsWith('warn:')) };
}
