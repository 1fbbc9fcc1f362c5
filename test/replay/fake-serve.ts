/**
 * Stand-in for `trace serve --json` in managed-replay tests (run as `node --import tsx fake-serve.ts serve …`):
 * a fake Anthropic server on a free port that prints the same ready line. Env: FAKE_SERVE_IGNORE_TERM=1 ignores
 * SIGTERM (tests the SIGKILL escalation); FAKE_SERVE_DELAY_MS delays every reply; FAKE_SERVE_EXIT=1 exits before
 * it is ready.
 */
import { createFakeAnthropic, textReply } from '../helpers/fake-anthropic.js';

const args = process.argv.slice(2);
const flag = (n: string) => {
  const i = args.indexOf(n);
  return i >= 0 ? args[i + 1] : undefined;
};
if (process.env.FAKE_SERVE_EXIT === '1') {
  process.stderr.write('fake-serve: cannot load model (scripted)\n');
  process.exit(3);
}
if (process.env.FAKE_SERVE_IGNORE_TERM === '1') process.on('SIGTERM', () => process.stderr.write('fake-serve: ignoring SIGTERM\n'));
else process.on('SIGTERM', () => process.exit(0));
const delayMs = Number(process.env.FAKE_SERVE_DELAY_MS ?? 0);
const fake = createFakeAnthropic({ script: () => textReply('hello there', { delayMs }) });
const l = await fake.listen(0);
process.stderr.write(`listening on ${l.url}\n`);
process.stdout.write(JSON.stringify({ event: 'ready', url: l.url, ready: true, model: flag('--model'), context_size: Number(flag('--ctx-size')) }) + '\n');
setInterval(() => {}, 1 << 30);
