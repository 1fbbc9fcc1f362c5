import { createRequire } from 'node:module';

/** Synchronous, on-demand loading of a CommonJS build, so heavy vocabularies load only when a tokenizer is chosen. */
export const lazyRequire = createRequire(import.meta.url);
