/** Progress reporting handed down by the CLI (a bar on a TTY, nothing otherwise). */
export interface Progress {
  start(total: number, label?: string): void;
  update(done: number): void;
  increment(by?: number): void;
  stop(): void;
}

export const NO_PROGRESS: Progress = Object.freeze({ start() {}, update() {}, increment() {}, stop() {} });

/** Builds a progress reporter once the amount of work is known (null: unknown). */
export type ProgressFactory = (total: number | null) => Progress;
