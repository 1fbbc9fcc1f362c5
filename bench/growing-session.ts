/**
 * SYNTHETIC: a deterministic long Claude Code session for the compact-body bench, built on the real CLI request
 * bodies in ../shared/fixtures/claude-code (their tools, system blocks, metadata and first messages, verbatim)
 * with generated conversation content (src/synth/content.ts: prose, Read file bodies, command output).
 *
 * Shape, as real Claude Code sends it: every request repeats the tools and 3 system blocks; messages are
 * append-only, one assistant turn (optional thinking with signature, optional text, one tool_use) and one user
 * tool_result per request; every ~10 requests the user types a new prompt; the message-level cache_control marker
 * sits on the newest block only. The main agent now and then calls the Agent tool: a sub-agent (the real
 * sub-agent fixture's tools/system) then runs 5–20 requests of its own before the main agent gets its result.
 * When the main context passes `compactAtBytes` (~140k tokens) the conversation is auto-compacted into a summary
 * message, as Claude Code does, so the context grows, drops and grows again.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../src/synth/rng.js';
import { commandFor, commandOutput, fileBody, filePath, prose, signature, userPrompt } from '../src/synth/content.js';

type Block = Record<string, unknown>;
interface Message {
  role: string;
  content: string | Block[];
}
interface Agent {
  base: Record<string, unknown>;
  messages: Message[];
  bytes: number;
}

export interface GrowingSessionOptions {
  requests: number;
  seed: number;
  /** Auto-compact the main conversation when its messages pass this many bytes (default 560,000 ≈ 140k tokens). */
  compactAtBytes: number;
}

export const DEFAULT_GROWING_SESSION: GrowingSessionOptions = { requests: 1000, seed: 20261207, compactAtBytes: 560_000 };

function loadFixture(dir: string, name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, name), 'utf8')) as Record<string, unknown>;
}

function unmarked(m: Message): Message {
  if (typeof m.content === 'string') return m;
  return { ...m, content: m.content.map(({ cache_control: _c, ...rest }) => rest) };
}

function startAgent(fixture: Record<string, unknown>): Agent {
  const messages = (fixture.messages as Message[]).filter((m) => m.role !== 'assistant').slice(0, 2).map(unmarked);
  return { base: fixture, messages, bytes: JSON.stringify(messages).length };
}

/** The request body: the fixture's own key order, cache_control on the newest block only. */
function body(a: Agent): Buffer {
  const last = a.messages[a.messages.length - 1]!;
  const marked: Message =
    typeof last.content === 'string'
      ? last
      : { ...last, content: last.content.map((b, i, all) => (i === all.length - 1 ? { ...b, cache_control: { type: 'ephemeral' } } : b)) };
  return Buffer.from(JSON.stringify({ ...a.base, messages: [...a.messages.slice(0, -1), marked] }), 'utf8');
}

function push(a: Agent, m: Message): void {
  a.messages.push(m);
  a.bytes += JSON.stringify(m).length + 1;
}

const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, Math.round(v)));

/** One assistant tool call and its result (sizes: Read ~3 KB median, long tail; Bash/Grep ~600 B; Edit small). */
function toolTurn(rng: Rng, a: Agent, toolName?: string, result?: string): void {
  const id = `toolu_01${rng.hex(22)}`;
  const blocks: Block[] = [];
  if (rng.chance(0.3)) blocks.push({ type: 'thinking', thinking: prose(rng, clamp(rng.lognormal(600, 2.2), 80, 6000)), signature: signature(rng) });
  if (rng.chance(0.6)) blocks.push({ type: 'text', text: prose(rng, clamp(rng.lognormal(160, 2), 20, 2000)) });
  const r = rng.next();
  const name = toolName ?? (r < 0.45 ? 'Read' : r < 0.7 ? 'Bash' : r < 0.85 ? 'Grep' : 'Edit');
  let input: Record<string, unknown>;
  let content: string;
  const path = filePath(rng, '/home/dev/project');
  if (name === 'Read') {
    input = { file_path: path };
    content = fileBody(rng, clamp(rng.lognormal(3000, 2.5), 200, 40_000));
  } else if (name === 'Bash') {
    const command = commandFor(rng);
    input = { command, description: prose(rng, 40) };
    content = commandOutput(rng, command, clamp(rng.lognormal(600, 3), 20, 20_000));
  } else if (name === 'Grep') {
    input = { pattern: prose(rng, 12).split(' ')[0], path: '/home/dev/project/src', output_mode: 'content' };
    content = commandOutput(rng, 'grep', clamp(rng.lognormal(600, 3), 20, 20_000));
  } else if (name === 'Edit') {
    const old = fileBody(rng, clamp(rng.lognormal(300, 2), 40, 3000)).replace(/^\d+\t/gm, '');
    input = { file_path: path, old_string: old, new_string: old.replace(/const /g, 'let ') };
    content = `The file ${path} has been updated successfully.`;
  } else {
    input = { description: prose(rng, 30), prompt: prose(rng, 800), subagent_type: 'Explore' };
    content = result ?? '';
  }
  blocks.push({ type: 'tool_use', id, name, input });
  push(a, { role: 'assistant', content: blocks });
  push(a, { role: 'user', content: [{ tool_use_id: id, type: 'tool_result', content }] });
}

function userTurn(rng: Rng, a: Agent): void {
  push(a, { role: 'assistant', content: [{ type: 'text', text: prose(rng, clamp(rng.lognormal(500, 2), 60, 4000)) }] });
  push(a, { role: 'user', content: [{ type: 'text', text: userPrompt(rng) }] });
}

/** Yields `requests` request bodies, in order (same options ⇒ same bytes). */
export function* growingSession(fixturesDir: string, options: Partial<GrowingSessionOptions> = {}): Generator<Buffer> {
  const o = { ...DEFAULT_GROWING_SESSION, ...options };
  const cc = join(fixturesDir, 'claude-code');
  const mainFixture = loadFixture(cc, 'main-tool-first-2.1.197.json');
  const subFixture = loadFixture(cc, 'subagent-2.1.197.json');
  const rng = new Rng(o.seed);
  let main = startAgent(mainFixture);
  let n = 0;
  while (n < o.requests) {
    yield body(main);
    n++;
    if (main.bytes > o.compactAtBytes) {
      const first = startAgent(mainFixture);
      push(first, { role: 'user', content: [{ type: 'text', text: `This session is being continued from a previous conversation that ran out of context. Summary:\n${prose(rng, 9000)}` }] });
      main = first;
      continue;
    }
    if (rng.chance(0.03)) {
      const sub = startAgent(subFixture);
      const steps = rng.int(5, 20);
      for (let s = 0; s < steps && n < o.requests; s++) {
        yield body(sub);
        n++;
        toolTurn(rng, sub);
      }
      toolTurn(rng, main, 'Agent', prose(rng, clamp(rng.lognormal(2000, 2), 300, 10_000)));
    } else if (rng.chance(0.1)) userTurn(rng, main);
    else toolTurn(rng, main);
  }
}
