import { afterEach, describe, expect, it } from 'vitest';
import chalk from 'chalk';
import { configureColor, createProgress, table } from '../../src/cli/output.js';
import type { CliContext } from '../../src/cli/context.js';

const level = chalk.level;
afterEach(() => {
  chalk.level = level;
});

describe('table', () => {
  it('is compact: title, header, one rule, one line per row; numbers right-aligned, text left-aligned', () => {
    chalk.level = 0;
    const out = table(['agent', 'requests', 'hit rate'], [['main', 6, '80.8%'], ['sub-agent-1', 1234, '-']], { title: 'Per agent' });
    expect(out.split('\n')).toEqual([
      'Per agent',
      'agent        requests  hit rate',
      '───────────────────────────────',
      'main                6     80.8%',
      'sub-agent-1     1,234         -',
      '',
    ]);
  });
});

describe('configureColor', () => {
  it('turns colour off without a TTY, with NO_COLOR and with --json', () => {
    for (const [env, tty, argv] of [[{}, false, []], [{ NO_COLOR: '1' }, true, []], [{}, true, ['--json']]] as const) {
      chalk.level = 2;
      configureColor(env, tty, argv);
      expect(chalk.level).toBe(0);
    }
    chalk.level = 2;
    configureColor({}, true, ['analyze']);
    expect(chalk.level).toBe(2);
  });
});

describe('createProgress', () => {
  it('draws a cli-progress bar on stderr when enabled and nothing otherwise', () => {
    let err = '';
    const ctx = { stderr: (t: string) => (err += t), isTTY: true } as unknown as CliContext;
    const p = createProgress(ctx);
    p.start(10, 'loading');
    p.update(10);
    p.stop();
    expect(err).toContain('loading');
    expect(err).toContain('10/10');
    expect(err).toContain('100%');
    err = '';
    const off = createProgress(ctx, false);
    off.start(10, 'x');
    off.stop();
    expect(err).toBe('');
  });
});
