/** The one place both engines build their final `done` event (see src/serve/engine.ts). */
import type { GenerateEvent } from '../engine.js';

export type DoneEvent = Extract<GenerateEvent, { type: 'done' }>;
export type StopReason = DoneEvent['stopReason'];

/** The done event's fields (its type, from src/serve/engine.ts); `stopSequence` may be passed as undefined. */
export type DoneFields = Omit<DoneEvent, 'type' | 'stopSequence'> & { stopSequence?: string | undefined };

export function doneEvent(f: DoneFields): DoneEvent {
  return {
    type: 'done',
    stopReason: f.stopReason,
    ...(f.stopSequence !== undefined ? { stopSequence: f.stopSequence } : {}),
    ...(f.trailingText ? { trailingText: f.trailingText } : {}),
    promptTokens: f.promptTokens,
    cachedTokens: f.cachedTokens,
    outputTokens: f.outputTokens,
    prefillMs: f.prefillMs,
    decodeMs: f.decodeMs,
  };
}

/** A request aborted while it waited for its turn: nothing was evaluated. */
export function abortedBeforeStart(promptTokens: number): DoneEvent {
  return doneEvent({ stopReason: 'aborted', promptTokens, cachedTokens: 0, outputTokens: 0, prefillMs: 0, decodeMs: 0 });
}
