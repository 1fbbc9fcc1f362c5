import { readFileSync } from 'node:fs';
import { SourceError, errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';

/**
 * Reads a JSON-lines text: blank lines are passed over; a line that is not JSON, or that `accept` rejects, is
 * skipped with one warning (`<path>:<line>: <why>, skipped`) and counted. `accept` returns the record, or a string
 * saying why the line is not one. One home for the JSONL importers (Mooncake, TraceLab, claude-trace).
 */
export function readJsonLines<T>(
  text: string,
  path: string,
  logger: Logger,
  accept: (o: unknown) => T | string,
): { records: { value: T; line: number }[]; skipped: number } {
  const records: { value: T; line: number }[] = [];
  let skipped = 0;
  text.split('\n').forEach((raw, i) => {
    if (!raw.trim()) return;
    let why: string;
    try {
      const r = accept(JSON.parse(raw) as unknown);
      if (typeof r !== 'string') {
        records.push({ value: r, line: i + 1 });
        return;
      }
      why = r;
    } catch (e) {
      why = e instanceof SyntaxError ? 'not valid JSON' : e instanceof Error ? e.message : String(e);
    }
    skipped++;
    logger.warn(`${path}:${i + 1}: ${why}, skipped`);
  });
  return { records, skipped };
}

/** A source file's text; an unreadable file is a SourceError (exit 2) naming it. */
export function readSourceText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new SourceError(`cannot read ${path}: ${errorMessage(e)}`);
  }
}
