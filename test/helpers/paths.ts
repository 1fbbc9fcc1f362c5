import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED = join(ROOT, '..', 'shared');
export const FIXTURES = join(SHARED, 'fixtures');
/** ../shared is beside the checkout in CI and dev sessions; tests that need it skip with a clear message if absent. */
export const HAS_SHARED = existsSync(FIXTURES);
export const TRACE_BIN = join(ROOT, 'bin', 'trace.js');
