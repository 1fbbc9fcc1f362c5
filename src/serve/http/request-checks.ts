/**
 * Field checks shared by the Anthropic and OpenAI request parsers: each failure is a 400 naming the field, what
 * it must be and what it got (never "field required" for a field that is present with the wrong type).
 */
import { badRequest } from './api-error.js';

/** A short description of a JSON value's type for error messages. */
export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

/** `messages` must be a non-empty list (a string is a type error, not a missing field). */
export function checkMessages(v: unknown, param = 'messages'): unknown[] {
  if (v === undefined) throw badRequest(`${param}: field required`, param);
  if (!Array.isArray(v)) throw badRequest(`${param}: must be a list of messages, got ${jsonType(v)}`, param);
  if (v.length === 0) throw badRequest(`${param}: must contain at least one message`, param);
  return v;
}

/** An optional number in [min, max] (null/undefined = not set). */
export function optionalNumberIn(v: unknown, field: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw badRequest(`${field}: must be a number between ${min} and ${max}, got ${jsonType(v)}`, field);
  if (v < min || v > max) throw badRequest(`${field}: must be between ${min} and ${max}, got ${v}`, field);
  return v;
}

/** An optional integer ≥ min (null/undefined = not set). */
export function optionalIntAtLeast(v: unknown, field: string, min: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw badRequest(`${field}: must be an integer ≥ ${min}, got ${typeof v === 'number' ? v : jsonType(v)}`, field);
  if (v < min) throw badRequest(`${field}: must be an integer ≥ ${min}, got ${v}`, field);
  return v;
}
