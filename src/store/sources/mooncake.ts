import { readJsonLines, readSourceText } from './json-lines.js';
import { SourceError } from '../../shared/errors.js';
import type { BlockRequest } from '../../shared/trace-record.js';
import type { OpenSourceOptions, OpenedSource, SourceImporter, SourceProbe } from './source.js';

/** Mooncake traces hash 512-token blocks. */
export const MOONCAKE_BLOCK_SIZE = 512;

/** One line of a Mooncake trace. */
export interface MooncakeRow {
  /** ms since trace start. */
  timestamp: number;
  input_length: number;
  output_length: number;
  hash_ids: number[];
}

function isRow(o: unknown): o is MooncakeRow {
  const r = o as MooncakeRow;
  return !!r && typeof r === 'object' && typeof r.timestamp === 'number' && typeof r.input_length === 'number' && Array.isArray(r.hash_ids);
}

/**
 * Block size of a Mooncake file: 512 unless the rows say otherwise (exports of other block sizes): the first
 * power of two for which every row's hash_ids count is floor or ceil of input_length / size.
 */
export function inferMooncakeBlockSize(rows: readonly MooncakeRow[]): number {
  const fits = (bs: number) => rows.every((r) => r.hash_ids.length === Math.floor(r.input_length / bs) || r.hash_ids.length === Math.ceil(r.input_length / bs));
  if (fits(MOONCAKE_BLOCK_SIZE)) return MOONCAKE_BLOCK_SIZE;
  for (const bs of [16, 32, 64, 128, 256, 1024, 2048]) if (fits(bs)) return bs;
  return MOONCAKE_BLOCK_SIZE;
}

export function parseMooncake(text: string, path: string, options: OpenSourceOptions) {
  const read = readJsonLines(text, path, options.logger, (o) => (isRow(o) ? o : 'not a Mooncake row'));
  const rows = read.records.map(({ value, line }) => ({ o: value, line }));
  const skipped = read.skipped;
  const blockSize = inferMooncakeBlockSize(rows.map((r) => r.o));
  const out: BlockRequest[] = rows.map(({ o, line }) => ({
      id: `mooncake:${line}`,
      conversationId: 'mooncake',
      agentId: 'mooncake',
      parentAgentId: null,
      t: o.timestamp / 1000,
      model: null,
      inputTokens: o.input_length,
      outputTokens: o.output_length ?? 0,
      hashIds: o.hash_ids,
      blockSize,
      // No markers in this format: treat the end of the prompt as the breakpoint.
      breakpoints: o.input_length > 0 ? [o.input_length] : [],
      apiTime: null,
      thinkTime: null,
      ttft: null,
      usage: null,
      stopReason: null,
  }));
  return { requests: out, skipped, blockSize };
}

export const mooncakeImporter: SourceImporter = {
  kind: 'mooncake',
  description: 'Mooncake trace JSONL (timestamp ms, input_length, output_length, hash_ids; 512-token blocks)',
  level: 'block',
  detect(p: SourceProbe): boolean {
    if (p.isDirectory || !p.head) return false;
    const first = p.head.toString('utf8').split('\n', 1)[0] ?? '';
    try {
      return isRow(JSON.parse(first));
    } catch {
      return false;
    }
  },
  open(path: string, options: OpenSourceOptions): OpenedSource {
    const text = readSourceText(path);
    const { requests, skipped, blockSize } = parseMooncake(text, path, options);
    if (requests.length === 0) throw new SourceError(`${path}: no Mooncake rows`);
    const stats = { skipped, yielded: 0 };
    return {
      kind: 'mooncake',
      path,
      level: 'block',
      estimatedCount: requests.length,
      blockSize,
      stats,
      requests: () => [],
      blocks: () => {
        stats.yielded = requests.length;
        return requests;
      },
      close() {},
    };
  },
};
