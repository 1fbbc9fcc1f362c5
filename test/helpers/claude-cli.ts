import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './paths.js';

/** The real Claude Code CLI installed from npm (@anthropic-ai/claude-code, native binary). */
export const CLAUDE_BIN = join(ROOT, 'node_modules', '.bin', 'claude');

/** The file the Read-tool loop tests ask the CLI to read, and its text. */
export const HELLO_TEXT = 'The secret word is pineapple-42.\n';

/** A project dir holding hello.txt and an empty HOME for one offline CLI run, under `dir`. */
export function makeClaudeProject(dir: string): { project: string; home: string; hello: string } {
  const project = join(dir, 'project');
  const home = join(dir, 'home');
  mkdirSync(project);
  mkdirSync(home);
  const hello = join(project, 'hello.txt');
  writeFileSync(hello, HELLO_TEXT);
  return { project, home, hello };
}

/** Environment that makes the real Claude Code CLI run headless and offline against `baseUrl`. */
export function offlineClaudeEnv(baseUrl: string, home: string, apiKey = 'sk-ant-fake'): Record<string, string> {
  return {
    ANTHROPIC_BASE_URL: baseUrl,
    ANTHROPIC_API_KEY: apiKey,
    HOME: home,
    DISABLE_TELEMETRY: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_ERROR_REPORTING: '1',
  };
}

/** Runs the real CLI to completion (SIGKILL after `timeoutMs`), with only PATH inherited from this process. */
export function runClaude(
  args: string[],
  cwd: string,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(CLAUDE_BIN, args, { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}
