import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { SourceError, errorMessage } from '../../shared/errors.js';
import type { BlockRequest, TraceRequest } from '../../shared/trace-record.js';
import { NO_PROGRESS } from '../../shared/progress.js';
import { HashNamespace, maxHashId } from './hash-namespace.js';
import { readKvFile } from './kv-cache-tester.js';
import type { CorpusFileFacts, CorpusInfo, OpenSourceOptions, OpenedSource, SourceImporter, SourceProbe } from './source.js';

/**
 * `corpus`: a directory (searched recursively) of files that a file-level importer reads — kv-cache-tester /
 * Weka traces (how cc-traces-weka and AgentX ship: one JSON per session), Mooncake JSONL, requests.db files,
 * claude-trace logs, … — read as one source. Formats that are directories themselves (Claude Code JSONL projects,
 * anyclaude trace folders) are claimed by their own importers first.
 *
 * - All files must be of one level (block or content); the level is the first recognised file's.
 * - A file no importer recognises, or one that fails to open or parse, is skipped, warned about once and listed in
 *   `corpus.skipped_files` with the reason; the others are read.
 * - Block corpora: every file is its own hash-id namespace (./hash-namespace.ts); every file must share one block
 *   size. Files are read one at a time, only the compact block records are kept (streaming, not all JSON at once).
 * - Content corpora: the files' requests, in start-time order.
 */
export interface CorpusDeps {
  /** File-level importers to try per file (the registry minus directory formats). */
  importers: () => SourceImporter[];
  probe: (path: string) => SourceProbe;
}

const MAX_DEPTH = 16;

export function walkFiles(dir: string, depth = 0, out: string[] = []): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (e) {
    throw new SourceError(`cannot read directory ${dir}: ${errorMessage(e)}`);
  }
  for (const n of names) {
    if (n.startsWith('.') && depth > 0) continue;
    const p = join(dir, n);
    let st;
    try {
      st = statSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory()) {
      if (depth < MAX_DEPTH) walkFiles(p, depth + 1, out);
    } else if (st.isFile()) out.push(p);
  }
  return out;
}

function fileImporter(path: string, deps: CorpusDeps): SourceImporter | null {
  let p: SourceProbe;
  try {
    p = deps.probe(path);
  } catch {
    return null;
  }
  return deps.importers().find((i) => i.detect(p)) ?? null;
}

export function corpusImporter(deps: CorpusDeps): SourceImporter {
  return {
    kind: 'corpus',
    description: 'a directory (recursive) of trace files of one level: kv-cache-tester/Weka JSON, Mooncake JSONL, requests.db, claude-trace logs, …',
    level: 'block',
    detect(p: SourceProbe): boolean {
      if (!p.isDirectory) return false;
      const files = walkFiles(p.path);
      return files.slice(0, 8).some((f) => fileImporter(f, deps) !== null);
    },
    open(path: string, options: OpenSourceOptions): OpenedSource {
      const files = walkFiles(path);
      if (!files.length) throw new SourceError(`${path}: empty directory`);
      const tried = deps.importers().map((i) => i.kind).join(', ');
      const plan: { file: string; rel: string; imp: SourceImporter }[] = [];
      const info: CorpusInfo = { files: files.length, skipped_files: [], hash_id_namespace: null, sessions: [] };
      const skip = (rel: string, error: string) => {
        info.skipped_files.push({ file: rel, error });
        options.logger.warn(`${rel}: skipped (${error})`);
      };
      for (const f of files) {
        const rel = relative(path, f) || f;
        const imp = fileImporter(f, deps);
        if (!imp) skip(rel, `not a recognised trace file (tried: ${tried})`);
        else if (plan.length && imp.level !== plan[0]!.imp.level) skip(rel, `${imp.kind} is ${imp.level}-level; this corpus is ${plan[0]!.imp.level}-level (${plan[0]!.imp.kind})`);
        else plan.push({ file: f, rel, imp });
      }
      if (!plan.length) throw new SourceError(`${path}: none of its ${files.length} file(s) is a recognised trace file (tried: ${tried})`);
      const level = plan[0]!.imp.level;
      const kinds = [...new Set(plan.map((p) => p.imp.kind))];
      options.logger.info(`${path}: ${files.length} file(s), ${plan.length} ${kinds.join('/')} (${level}-level)`);
      const stats = { skipped: 0, yielded: 0 };
      const base = { kind: `corpus:${kinds.join('+')}`, path, level, estimatedCount: null, stats, corpus: info, close() {} };
      if (level === 'block') {
        info.hash_id_namespace = 'per-file';
        const loaded = loadBlockCorpus(plan, options, info, skip);
        info.skipped_files.sort((a, b) => (a.file < b.file ? -1 : 1));
        stats.skipped = loaded.skippedRecords;
        return {
          ...base,
          estimatedCount: loaded.blocks.length,
          blockSize: loaded.blockSize,
          requests: () => [],
          blocks: () => {
            stats.yielded = loaded.blocks.length;
            return loaded.blocks;
          },
        };
      }
      let cache: TraceRequest[] | null = null;
      const all = () => (cache ??= loadContentCorpus(plan, options, info, skip, stats));
      return {
        ...base,
        requests: () => {
          const rs = all();
          stats.yielded = rs.length;
          return rs;
        },
      };
    },
  };
}

type Plan = { file: string; rel: string; imp: SourceImporter }[];
type Skip = (rel: string, error: string) => void;

function loadBlockCorpus(plan: Plan, options: OpenSourceOptions, info: CorpusInfo, skip: Skip) {
  const ns = new HashNamespace();
  const ids = new Set<string>();
  const claimId = (id: string) => {
    let u = id;
    for (let k = 2; ids.has(u); k++) u = `${id}#${k}`;
    ids.add(u);
    return u;
  };
  const blocks: BlockRequest[] = [];
  let blockSize: number | null = null;
  let skippedRecords = 0;
  const progress = options.progress?.(plan.length) ?? NO_PROGRESS;
  progress.start(plan.length, 'reading files');
  for (const { file, rel, imp } of plan) {
    try {
      let part: { blocks: BlockRequest[]; facts: CorpusFileFacts; blockSize: number; skipped: number };
      if (imp.kind === 'kv-cache-tester') {
        const r = readKvFile(file, { ns, file: rel, logger: options.logger, claimId });
        part = { ...r, skipped: r.facts.skipped };
      } else part = readOtherBlockFile(file, rel, imp, options, ns, claimId);
      if (blockSize !== null && part.blockSize !== blockSize) throw new SourceError(`block size ${part.blockSize} differs from the corpus's ${blockSize}`);
      blockSize = part.blockSize;
      for (const b of part.blocks) blocks.push(b);
      info.sessions.push(part.facts);
      skippedRecords += part.skipped;
    } catch (e) {
      skip(rel, errorMessage(e));
    }
    progress.increment();
  }
  progress.stop();
  if (blockSize === null) throw new SourceError(`no readable trace file (${info.skipped_files.length} skipped)`);
  blocks.sort((a, b) => a.t - b.t);
  return { blocks, blockSize, skippedRecords };
}

/** Block files other than kv-cache-tester (Mooncake): one session per file, renumbered into its own namespace. */
function readOtherBlockFile(file: string, rel: string, imp: SourceImporter, options: OpenSourceOptions, ns: HashNamespace, claimId: (id: string) => string) {
  const src = imp.open(file, { logger: options.logger });
  try {
    const raw = [...(src.blocks?.() ?? [])];
    const map = ns.open(maxHashId(raw.map((b) => b.hashIds)));
    const conv = claimId(rel);
    const blocks = raw.map((b) => ({ ...b, id: `${conv}:${b.id}`, conversationId: conv, agentId: b.parentAgentId === null ? conv : `${conv}:${b.agentId}`, parentAgentId: b.parentAgentId === null ? null : conv, hashIds: map.map(b.hashIds) }));
    return { blocks, blockSize: src.blockSize ?? raw[0]?.blockSize ?? 0, skipped: src.stats.skipped, facts: { file: rel, session_id: conv, requests: blocks.length } };
  } finally {
    src.close();
  }
}

function loadContentCorpus(plan: Plan, options: OpenSourceOptions, info: CorpusInfo, skip: Skip, stats: { skipped: number }): TraceRequest[] {
  const out: TraceRequest[] = [];
  info.sessions = [];
  const progress = options.progress?.(plan.length) ?? NO_PROGRESS;
  progress.start(plan.length, 'reading files');
  for (const { file, rel, imp } of plan) {
    try {
      const src = imp.open(file, { logger: options.logger });
      try {
        let n = 0;
        for (const r of src.requests()) {
          out.push({ ...r, id: `${rel}:${r.id}` });
          n++;
        }
        stats.skipped += src.stats.skipped;
        info.sessions.push({ file: rel, session_id: rel, requests: n });
      } finally {
        src.close();
      }
    } catch (e) {
      skip(rel, errorMessage(e));
    }
    progress.increment();
  }
  progress.stop();
  return out.sort((a, b) => (a.startedAtMs ?? 0) - (b.startedAtMs ?? 0));
}
