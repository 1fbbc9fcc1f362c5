/**
 * One place for every error the toolkit raises on purpose. Each class carries a stable `code`
 * (machine-readable, documented) — only the CLI maps these to exit codes and one-line messages.
 */
export type ErrorCode =
  | 'E_USAGE' // bad flags / arguments
  | 'E_INPUT' // malformed input file / body / baseline
  | 'E_SOURCE' // a source could not be opened or recognised
  | 'E_STORE' // database open / migrate / write failure
  | 'E_ENGINE' // inference engine failure
  | 'E_ABORTED' // interrupted (Ctrl-C / SIGTERM): exit 130
  | 'E_REGRESSION' // trace ci: a metric regressed
  | 'E_FAILED' // the command ran and its result is a failure (doctor checks failed, no replay request succeeded)
  | 'E_INTERNAL';

export class TraceError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options?.details;
  }
}

export class UsageError extends TraceError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('E_USAGE', message, options);
  }
}
export class InputError extends TraceError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('E_INPUT', message, options);
  }
}
export class SourceError extends TraceError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('E_SOURCE', message, options);
  }
}
export class StoreError extends TraceError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('E_STORE', message, options);
  }
}
export class EngineError extends TraceError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('E_ENGINE', message, options);
  }
}
export class AbortedError extends TraceError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('E_ABORTED', message, options);
  }
}
export class RegressionError extends TraceError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('E_REGRESSION', message, options);
  }
}

export class FailedError extends TraceError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('E_FAILED', message, options);
  }
}

export function isTraceError(e: unknown): e is TraceError {
  return e instanceof TraceError;
}

/** A short one-line description of any thrown value. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
