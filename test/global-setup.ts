import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/** End-to-end tests spawn `bin/trace.js`, which runs the compiled dist/: build it once before the run. */
export default function setup(): void {
  // Both vitest projects (unit, e2e) name this file: build once per run.
  if (process.env.TRACE_TEST_DIST_BUILT === '1') return;
  process.env.TRACE_TEST_DIST_BUILT = '1';
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  try {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], {
      cwd: root,
      stdio: 'inherit',
    });
  } catch {
    // tsc still emits on type errors (often someone else's in-progress file in a shared tree): warn, don't abort.
    process.stderr.write('global-setup: the dist/ build reported type errors (printed above); dist/ was emitted anyway\n');
  }
}
