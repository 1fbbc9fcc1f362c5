/**
 * A stand-in for `trace replay --model …` in the kill -9 test: starts one managed `trace serve` (the real one) and
 * prints its pid, then waits to be killed. Usage: node --import tsx managed-parent.ts <model.gguf> <log file>
 */
import { startManagedServer } from '../../src/replay/managed-server.js';
import { TRACE_BIN } from '../helpers/paths.js';

const [model, logFile] = process.argv.slice(2);
const s = await startManagedServer({
  command: [process.execPath, TRACE_BIN],
  engine: 'llama',
  model: model!,
  ctxSize: 512,
  threads: 1,
  logFile: logFile!,
  env: { ...process.env },
});
process.stdout.write(JSON.stringify({ pid: s.pid, url: s.url }) + '\n');
setInterval(() => {}, 1 << 30);
