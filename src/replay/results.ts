import { mkdirSync, readdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../shared/errors.js';
import type { RunSummary } from './metrics.js';
import type { RequestRecord } from './types.js';

export const RESULT_SCHEMA = 'trace-replay-result/1';

export interface RunConfig {
  source: string;
  source_kind: string;
  trace: string;
  endpoint: string;
  api: string;
  model: string;
  timing: string;
  speed: number;
  content: string;
  max_concurrency: number;
  max_tokens: 'recorded' | number;
  conversation: string | null;
  slo_ttft_s: number | null;
  slo_tpot_s: number | null;
  /** Free-form label (e.g. server settings) shown by `trace compare`. */
  label: string | null;
}

/** One results file (`<trace>_<model>_<timestamp>.json`). */
export interface RunResult {
  schema: typeof RESULT_SCHEMA;
  /** 'complete' (every request sent), 'interrupted' (Ctrl-C: partial results). */
  status: 'complete' | 'interrupted';
  started_at: string;
  finished_at: string;
  config: RunConfig;
  summary: RunSummary;
  requests: RequestRecord[];
}

function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 80) || 'x';
}

export function resultFileName(trace: string, model: string, startedAt: Date): string {
  const ts = startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${safe(trace)}_${safe(model)}_${ts}.json`;
}

/** Writes atomically (tmp + rename); returns the path. */
export function writeResult(dir: string, result: RunResult): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, resultFileName(result.config.trace, result.config.model, new Date(result.started_at)));
  const tmp = path + '.tmp';
  writeFileSync(tmp, JSON.stringify(result, null, 2) + '\n');
  renameSync(tmp, path);
  return path;
}

export function isRunResult(v: unknown): v is RunResult {
  const o = v as Partial<RunResult> | null;
  return !!o && typeof o === 'object' && o.schema === RESULT_SCHEMA && !!o.summary && !!o.config && Array.isArray(o.requests);
}

/** Reads every results file in a directory (non-recursive); other JSON files are ignored. */
export function readResults(dir: string): { path: string; result: RunResult }[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    throw new InputError(`cannot read results directory ${dir}`);
  }
  const out: { path: string; result: RunResult }[] = [];
  for (const n of names.filter((x) => x.endsWith('.json')).sort()) {
    const path = join(dir, n);
    try {
      const v = JSON.parse(readFileSync(path, 'utf8')) as unknown;
      if (isRunResult(v)) out.push({ path, result: v });
    } catch {
      // not a results file
    }
  }
  return out;
}
