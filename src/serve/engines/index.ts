/**
 * Engine registry: name → factory. Each factory loads its heavy dependency lazily (node-llama-cpp, the Python
 * worker), so importing the registry is cheap. Every engine passes test/serve/engine-contract.test.ts.
 */
import type { EngineFactory } from '../engine.js';

export const ENGINES: Record<string, EngineFactory> = {
  llama: async (o) => (await import('./llama-engine.js')).createLlamaEngine(o),
  mlx: async (o) => (await import('./mlx-engine.js')).createMlxEngine(o),
};

export const ENGINE_NAMES = Object.keys(ENGINES);
