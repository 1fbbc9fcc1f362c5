import type { BenchModule } from './bench.js';
import proxy from './proxy.bench.js';
import replay from './replay.bench.js';
import engine from './engine.bench.js';
import simulateBench from './simulate.bench.js';
import analyzeBench from './analyze.bench.js';
import serveBench from './serve.bench.js';
import toolGrammarBench from './tool-grammar.bench.js';
import bodyCodecBench from './body-codec.bench.js';
import corpusBench from './corpus.bench.js';
import managedBench from './managed.bench.js';
import liveViewBench from './live-view.bench.js';

/** Every benchmark, in the order `npm run bench` runs them. Each bench file adds itself here (one line each). */
export const BENCHES: BenchModule[] = [
  proxy,
  replay,
  engine,
  simulateBench,
  analyzeBench,
  serveBench,
  toolGrammarBench,
  bodyCodecBench,
  corpusBench,
  managedBench,
  liveViewBench,
];
