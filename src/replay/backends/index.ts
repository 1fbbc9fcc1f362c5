import { UsageError } from '../../shared/errors.js';
import type { ReplayBackend } from './backend.js';
import { anthropicBackend } from './anthropic.js';
import { openaiBackend } from './openai.js';

export type { ReplayBackend, FetchLike, StreamReader, BackendSendOptions } from './backend.js';
export { sendRequest, joinUrl } from './backend.js';

/** Registry of wire protocols replay can speak (`--api`). */
export const REPLAY_BACKENDS: Record<string, ReplayBackend> = {
  anthropic: anthropicBackend,
  openai: openaiBackend,
};

export function getBackend(name: string): ReplayBackend {
  const b = REPLAY_BACKENDS[name];
  if (!b) throw new UsageError(`unknown --api "${name}" (known: ${Object.keys(REPLAY_BACKENDS).join(', ')})`);
  return b;
}
