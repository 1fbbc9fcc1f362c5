import type { BenchModule } from './bench.js';

/** Every benchmark, in the order `npm run bench` runs them. Each bench file adds itself here (one line). */
export const BENCHES: BenchModule[] = [];
