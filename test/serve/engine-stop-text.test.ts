import { describe, expect, it } from 'vitest';
import { StopTextStream } from '../../src/serve/engines/stop-text.js';

/** Feeds growing text and returns what was emitted per step. */
function feed(stops: string[], pieces: string[]) {
  const s = new StopTextStream(stops);
  let full = '';
  const out: string[] = [];
  let hit: string | undefined;
  for (const p of pieces) {
    full += p;
    const r = s.push(full);
    out.push(r.text);
    if (r.stopSequence) {
      hit = r.stopSequence;
      break;
    }
  }
  return { out, hit, rest: hit ? '' : s.flush(full) };
}

describe('StopTextStream', () => {
  it('passes text through without stops', () => {
    expect(feed([], ['ab', 'c', 'de'])).toEqual({ out: ['ab', 'c', 'de'], hit: undefined, rest: '' });
  });
  it('holds back a possible stop prefix and cuts before the stop sequence across tokens', () => {
    expect(feed(['END'], ['hello E', 'N', 'D more'])).toEqual({ out: ['hello ', '', ''], hit: 'END', rest: '' });
  });
  it('releases held text when it turns out not to be a stop', () => {
    expect(feed(['END'], ['x E', 'NO'])).toEqual({ out: ['x ', 'ENO'], hit: undefined, rest: '' });
    expect(feed(['END'], ['x E'])).toEqual({ out: ['x '], hit: undefined, rest: 'E' });
  });
  it('picks the earliest of several stops', () => {
    expect(feed(['bb', 'a'], ['xxbba'])).toEqual({ out: ['xx'], hit: 'bb', rest: '' });
  });
  it('waits on a trailing U+FFFD (incomplete UTF-8)', () => {
    // `full` is re-detokenised each step: the replacement char becomes é once the second byte arrives
    const s = new StopTextStream([]);
    expect(s.push('a\uFFFD').text).toBe('a');
    expect(s.push('a\u00e9').text).toBe('\u00e9');
  });
});
