/**
 * Splits a leading `<think>…</think>` section (Qwen3 / DeepSeek-R1 style reasoning) off generated text,
 * incrementally: pieces before `</think>` are reasoning, the rest is answer text. Only a `<think>` at the very
 * start (after whitespace) opens reasoning; anything else passes through unchanged. Partial tags are held back;
 * whitespace around the reasoning is trimmed the same way for any chunking.
 */
export type ThinkPiece = { type: 'thinking' | 'text'; text: string };

const OPEN = '<think>';
const CLOSE = '</think>';

export class ThinkSplitter {
  private mode: 'start' | 'thinking' | 'after' | 'text' = 'start';
  private buf = '';
  private thoughtStarted = false;

  push(t: string): ThinkPiece[] {
    this.buf += t;
    const out: ThinkPiece[] = [];
    if (this.mode === 'start') {
      const s = this.buf.trimStart();
      if (s.startsWith(OPEN)) {
        this.mode = 'thinking';
        this.buf = s.slice(OPEN.length);
      } else if (OPEN.startsWith(s)) return out; // maybe the start of <think>
      else this.mode = 'text';
    }
    if (this.mode === 'thinking') {
      if (!this.thoughtStarted) {
        this.buf = this.buf.trimStart();
        if (this.buf === '') return out;
      }
      const end = this.buf.indexOf(CLOSE);
      if (end >= 0) {
        const thought = this.buf.slice(0, end).trimEnd();
        if (thought !== '') out.push({ type: 'thinking', text: thought });
        this.buf = this.buf.slice(end + CLOSE.length);
        this.mode = 'after';
      } else {
        // hold back a possible partial </think> and trailing whitespace
        let keep = 0;
        for (let n = Math.min(CLOSE.length - 1, this.buf.length); n > 0; n--)
          if (CLOSE.startsWith(this.buf.slice(this.buf.length - n))) {
            keep = n;
            break;
          }
        const head = this.buf.slice(0, this.buf.length - keep);
        const emit = head.trimEnd();
        this.buf = head.slice(emit.length) + this.buf.slice(this.buf.length - keep);
        if (emit !== '') {
          this.thoughtStarted = true;
          out.push({ type: 'thinking', text: emit });
        }
        return out;
      }
    }
    if (this.mode === 'after') {
      this.buf = this.buf.trimStart();
      if (this.buf === '') return out;
      this.mode = 'text';
    }
    if (this.buf !== '') out.push({ type: 'text', text: this.buf });
    this.buf = '';
    return out;
  }

  end(): ThinkPiece[] {
    const rest = this.buf;
    this.buf = '';
    if (rest === '' || this.mode === 'after') return [];
    if (this.mode === 'thinking') return rest.trim() === '' ? [] : [{ type: 'thinking', text: rest }];
    return [{ type: 'text', text: rest }];
  }
}
