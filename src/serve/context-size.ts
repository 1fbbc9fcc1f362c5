/**
 * The default context size of `trace serve`: the model's trained context, capped by the memory its KV cache
 * would need (KV bytes per token × context × slots must fit the free memory left after the weights). An explicit
 * `--ctx-size` wins (capped at the trained context). The choice comes with a one-line reason for the log and
 * `--json`.
 */

export interface ContextChoiceInput {
  /** The model's trained context (`<arch>.context_length` / `max_position_embeddings`). */
  trainContext: number;
  kvBytesPerToken: number;
  /** Sequences that each get the full context (llama.cpp allocates `contextSize × slots` KV cells). */
  slots: number;
  /** `--ctx-size` when given. */
  requested?: number;
  /** Free memory for weights + KV (RAM, or VRAM when the model runs on a GPU); unknown → no cap. */
  availableBytes?: number;
  /** Memory the weights will take from `availableBytes` (the file size). */
  weightsBytes?: number;
}

export interface ContextChoice {
  contextSize: number;
  trainContext: number;
  source: 'requested' | 'trained' | 'memory';
  reason: string;
  /** KV bytes the chosen context needs over all slots. */
  kvBytes: number;
}

/** Context sizes are rounded down to this many tokens when memory caps them. */
export const CONTEXT_STEP = 256;
/** Never pick fewer tokens than this by default (the server would refuse almost every prompt). */
export const MIN_DEFAULT_CONTEXT = 512;
/** Head-room kept free: the larger of this and 10 % of the free memory (compute buffers, the OS, the server). */
export const MEMORY_RESERVE_BYTES = 512 * 2 ** 20;

const GiB = 2 ** 30;
const fmtBytes = (b: number): string => (b >= GiB ? `${(b / GiB).toFixed(1)} GiB` : `${Math.round(b / 2 ** 20)} MiB`);
const fmtInt = (n: number): string => n.toLocaleString('en-US');

export function chooseContextSize(o: ContextChoiceInput): ContextChoice {
  const train = Math.max(1, Math.floor(o.trainContext));
  const slots = Math.max(1, o.slots);
  const perToken = Math.max(0, o.kvBytesPerToken) * slots;
  const done = (contextSize: number, source: ContextChoice['source'], reason: string): ContextChoice => ({ contextSize, trainContext: train, source, reason, kvBytes: contextSize * perToken });
  if (o.requested !== undefined) {
    if (o.requested > train) return done(train, 'requested', `--ctx-size ${fmtInt(o.requested)} capped at the model's trained context ${fmtInt(train)}`);
    return done(o.requested, 'requested', `--ctx-size ${fmtInt(o.requested)} (trained context ${fmtInt(train)})`);
  }
  const avail = o.availableBytes;
  if (avail === undefined || perToken === 0) return done(train, 'trained', `the model's trained context ${fmtInt(train)} (free memory unknown)`);
  const weights = Math.max(0, o.weightsBytes ?? 0);
  const reserve = Math.max(MEMORY_RESERVE_BYTES, 0.1 * avail);
  const forKv = Math.max(0, avail - weights - reserve);
  const fits = Math.floor(forKv / perToken);
  const kvDesc = `${slots} slot${slots === 1 ? '' : 's'} × ${fmtInt(o.kvBytesPerToken)} B/token KV`;
  if (fits >= train) return done(train, 'trained', `the model's trained context ${fmtInt(train)} (its KV cache, ${fmtBytes(train * perToken)} for ${kvDesc}, fits ${fmtBytes(avail)} free memory)`);
  const capped = Math.min(train, Math.max(MIN_DEFAULT_CONTEXT, Math.floor(fits / CONTEXT_STEP) * CONTEXT_STEP));
  return done(
    capped,
    'memory',
    `trained context ${fmtInt(train)} capped to ${fmtInt(capped)} by free memory: ${fmtBytes(avail)} free − ${fmtBytes(weights)} weights − ${fmtBytes(reserve)} reserve leaves ${fmtBytes(forKv)} for ${kvDesc}` +
      (fits < MIN_DEFAULT_CONTEXT ? ` (less than the ${MIN_DEFAULT_CONTEXT}-token minimum; it may not fit)` : '') +
      '; raise it with --ctx-size',
  );
}
