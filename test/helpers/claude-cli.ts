import { join } from 'node:path';
import { ROOT } from './paths.js';

/** The real Claude Code CLI installed from npm (@anthropic-ai/claude-code, native binary). */
export const CLAUDE_BIN = join(ROOT, 'node_modules', '.bin', 'claude');

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
