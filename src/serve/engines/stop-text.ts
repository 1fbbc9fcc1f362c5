/**
 * Incremental text for a token stream with stop sequences (shared by engines): given the full detokenised
 * text so far, decides what may be emitted now. Text that could still become a stop sequence is held back,
 * text from a stop sequence on is never emitted, and a trailing U+FFFD (an incomplete UTF-8 sequence) waits
 * for the next token.
 */
export class StopTextStream {
  private emitted = 0;
  constructor(private readonly stops: readonly string[] = []) {}

  /** `full` = detokenisation of every generated token so far. */
  push(full: string): { text: string; stopSequence?: string } {
    let cut = Infinity;
    let hit: string | undefined;
    for (const s of this.stops) {
      if (!s) continue;
      const i = full.indexOf(s, Math.max(0, this.emitted - s.length + 1));
      if (i >= 0 && i < cut) {
        cut = i;
        hit = s;
      }
    }
    if (hit !== undefined) return { text: this.take(full, cut), stopSequence: hit };
    let safe = full.length;
    if (full.endsWith('\uFFFD')) safe--;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, full.length); k > 0; k--) {
        if (full.endsWith(s.slice(0, k))) {
          safe = Math.min(safe, full.length - k);
          break;
        }
      }
    }
    return { text: this.take(full, safe) };
  }

  /** Whatever was held back (call at the end of generation when no stop sequence matched). */
  flush(full: string): string {
    return this.take(full, full.length);
  }

  private take(full: string, end: number): string {
    if (end <= this.emitted) return '';
    const t = full.slice(this.emitted, end);
    this.emitted = end;
    return t;
  }
}
