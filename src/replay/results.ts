import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, UsageError, errorMessage } from '../shared/errors.js';
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
  /** Model name sent for sub-agent requests (`--subagent-model`), null = same as model. */
  subagent_model?: string | null;
  /** One request replayed (`--request`), else null. */
  request?: string | null;
  /** `--warmup` before this run: none | load | prefix. */
  warmup?: 'none' | 'load' | 'prefix';
  /** 1-based repeat number and the number of repeats asked for. */
  repeat?: number;
  repeats?: number;
  /** The cache-bust marker base of this repeat (null without --cache-bust). */
  cache_bust?: string | null;
  idle_gap_cap_s?: number | null;
  max_failed_fraction?: number;
  /** Concurrent copies of the trace (`--users` level) and their start stagger. */
  users?: number;
  stagger_s?: number;
  /** The managed server (`--model` without `--endpoint`), null for an external endpoint. */
  server?: ManagedServerConfig | null;
}

/** What `trace replay` started for a managed run (recorded so runs with different knobs are told apart). */
export interface ManagedServerConfig {
  engine: string;
  model_path: string;
  ctx_size: number;
  /** Why ctx_size: 'flag' (--ctx-size) or 'trace' (largest prompt + output, rounded up). */
  ctx_source: 'flag' | 'trace';
  slots: number | null;
  cache_bytes: number | null;
  threads: number | null;
  /** Server log file (beside the results). */
  log: string;
  /** Spawn → ready (ms). */
  ready_ms: number;
  pid: number;
}

/** Whether a run counts: complete and at most max_failed_fraction of its requests failed. */
export interface RunValidity {
  valid: boolean;
  failed_fraction: number;
  max_failed_fraction: number;
  reason: string | null;
}

/** One results file (`<trace>_<model>_<timestamp>.json`). */
export interface RunResult {
  schema: typeof RESULT_SCHEMA;
  /** 'complete' (every request sent), 'interrupted' (Ctrl-C: partial results). */
  status: 'complete' | 'interrupted';
  started_at: string;
  finished_at: string;
  config: RunConfig;
  /** Absent in files written before validity existed (treated as valid when complete). */
  validity?: RunValidity;
  summary: RunSummary;
  requests: RequestRecord[];
}

export const DEFAULT_MAX_FAILED_FRACTION = 0.05;

export function validityOf(status: RunResult['status'], s: RunSummary, maxFailed = DEFAULT_MAX_FAILED_FRACTION): RunValidity {
  const total = Math.max(1, s.requests.total);
  const failedFraction = (s.requests.failed + (status === 'complete' ? s.requests.not_sent : 0)) / total;
  const reason =
    status === 'interrupted'
      ? 'interrupted'
      : failedFraction > maxFailed
        ? `${(100 * failedFraction).toFixed(1)} % of requests failed (limit ${(100 * maxFailed).toFixed(1)} %)`
        : null;
  return { valid: reason === null, failed_fraction: failedFraction, max_failed_fraction: maxFailed, reason };
}

function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 80) || 'x';
}

/** `<trace>_<model>_<timestamp>[_u<users>][_r<repeat>].json` (the tags keep repeats of one second apart). */
export function resultFileName(trace: string, model: string, startedAt: Date, tag = ''): string {
  const ts = startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${safe(trace)}_${safe(model)}_${ts}${tag ? '_' + safe(tag) : ''}.json`;
}

function tagOf(c: RunConfig): string {
  const parts: string[] = [];
  if (c.users !== undefined && c.users > 1) parts.push(`u${c.users}`);
  if (c.repeats !== undefined && c.repeats > 1) parts.push(`r${c.repeat ?? 1}`);
  return parts.join('_');
}

/**
 * Checks before anything is sent that `dir` is (or can be made) a writable directory: creates it, refuses a file
 * in its place, and writes + removes a probe file. UsageError (exit 2) with the reason otherwise.
 */
export function ensureWritableDir(dir: string, flag = '--out'): void {
  try {
    if (statSync(dir, { throwIfNoEntry: false })?.isFile()) throw new UsageError(`${flag} ${dir} is a file, not a directory`);
    mkdirSync(dir, { recursive: true });
    const probe = join(dir, `.trace-write-probe-${randomBytes(6).toString('hex')}`);
    writeFileSync(probe, '');
    unlinkSync(probe);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${flag} ${dir} is not a writable directory: ${errorMessage(e)}`, { cause: e });
  }
}

/** Writes atomically (tmp + rename); returns the path. */
export function writeResult(dir: string, result: RunResult): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, resultFileName(result.config.trace, result.config.model, new Date(result.started_at), tagOf(result.config)));
  const tmp = path + '.tmp';
  writeFileSync(tmp, JSON.stringify(result, null, 2) + '\n');
  renameSync(tmp, path);
  return path;
}

export function isRunResult(v: unknown): v is RunResult {
  const o = v as Partial<RunResult> | null;
  return !!o && typeof o === 'object' && o.schema === RESULT_SCHEMA && !!o.summary && !!o.config && Array.isArray(o.requests);
}

/** A `*.json` file in a results directory that could not be read as a replay result. */
export interface SkippedResult {
  path: string;
  reason: string;
}

/**
 * Reads every results file in a directory (non-recursive). JSON files with another `schema` (or none) are not
 * results and are ignored; unreadable / invalid JSON and files that claim the results schema but lack its
 * fields are reported in `skipped` (never dropped silently).
 */
export function readResultsDir(dir: string): { results: { path: string; result: RunResult }[]; skipped: SkippedResult[] } {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    throw new InputError(`cannot read results directory ${dir}`);
  }
  const out: { path: string; result: RunResult }[] = [];
  const skipped: SkippedResult[] = [];
  for (const n of names.filter((x) => x.endsWith('.json')).sort()) {
    const path = join(dir, n);
    let v: unknown;
    try {
      v = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    } catch (e) {
      skipped.push({ path, reason: `not valid JSON: ${errorMessage(e)}` });
      continue;
    }
    if (isRunResult(v)) out.push({ path, result: v });
    else if (v && typeof v === 'object' && (v as { schema?: unknown }).schema === RESULT_SCHEMA) skipped.push({ path, reason: 'has the results schema but lacks config/summary/requests' });
  }
  return { results: out, skipped };
}

/** Reads every results file in a directory (see readResultsDir; skipped files are dropped here). */
export function readResults(dir: string): { path: string; result: RunResult }[] {
  return readResultsDir(dir).results;
}
