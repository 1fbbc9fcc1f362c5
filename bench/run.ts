/**
 * `npm run bench [-- name ...]`: runs every benchmark (or the named ones) in one process, prints each one's
 * side-by-side ratios and writes bench/results.json with the machine they came from.
 */
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { cpus, totalmem, platform, arch, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchModule } from './bench.js';
import { BENCHES } from './index.js';

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const selected = wanted.length ? BENCHES.filter((b) => wanted.includes(b.name)) : BENCHES;
const resultsPath = join(here, 'results.json');
const previous = existsSync(resultsPath) ? (JSON.parse(readFileSync(resultsPath, 'utf8')) as { benches?: Record<string, unknown> }) : {};

const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memory_gib: Math.round(totalmem() / 2 ** 30),
  os: `${platform()} ${release()} ${arch()}`,
  node: process.version,
};
console.log(`machine: ${machine.cpu} × ${machine.cores}, ${machine.memory_gib} GiB, ${machine.os}, node ${machine.node}\n`);

const benches: Record<string, unknown> = { ...(previous.benches ?? {}) };
let failed = 0;
for (const b of selected as BenchModule[]) {
  console.log(`== ${b.name}: ${b.description}`);
  const t0 = performance.now();
  try {
    const r = await b.run();
    for (const l of r.lines) console.log('  ' + l);
    benches[b.name] = { ...r.metrics, wall_s: +((performance.now() - t0) / 1000).toFixed(1), ran_at: new Date().toISOString() };
  } catch (e) {
    failed++;
    console.log(`  FAILED: ${e instanceof Error ? e.stack : String(e)}`);
    benches[b.name] = { error: String(e), ran_at: new Date().toISOString() };
  }
  console.log('');
}
writeFileSync(resultsPath, JSON.stringify({ machine, benches }, null, 2) + '\n');
console.log(`wrote ${resultsPath}`);
process.exitCode = failed ? 1 : 0;
