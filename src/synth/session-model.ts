import type { ContentBlock, MessageParam, MessagesRequest, ToolResultBlock } from '../shared/anthropic.js';
import type { Rng } from './rng.js';
import {
  commandFor,
  commandOutput,
  contextReminder,
  fileBody,
  filePath,
  prose,
  sentence,
  signature,
  systemBlocks,
  userPrompt,
  type SynthCatalog,
} from './content.js';

/**
 * Agent scripts: generator functions that describe what one Claude Code agent sends, in order. They yield
 * steps to the simulator (src/synth/simulate.ts), which owns time, the cache model and the rows.
 */

export const MAIN_MODEL = 'claude-opus-4-8';
export const SUBAGENT_MODEL = 'claude-haiku-4-5-20251001';
export const TITLE_MODEL = 'claude-haiku-4-5-20251001';

export type AgentKind = 'main' | 'subagent' | 'title';

export interface PlannedRequest {
  kind: AgentKind;
  body: MessagesRequest;
  /** The assistant content the synthetic "API" answers with (decided by the script, not by the cache). */
  content: ContentBlock[];
  stopReason: 'end_turn' | 'tool_use';
  /** Stream breaks after the first content (Claude Code then resends the same turn with stream: false). */
  breakStream?: boolean;
}

export type Step =
  | { kind: 'send'; request: PlannedRequest }
  | { kind: 'sleep'; ms: number; reason: 'user' | 'tool' }
  /** Start children now and resume when all have finished (value: each child's return value). */
  | { kind: 'spawn'; children: AgentScript[] }
  /** Start a child now and continue immediately (the title side request). */
  | { kind: 'fork'; child: AgentScript };

export type AgentScript = Generator<Step, string, unknown>;

export interface SessionSpec {
  rng: Rng;
  catalog: SynthCatalog;
  sessionId: string;
  deviceId: string;
  /** ISO date shown in the context reminder. */
  date: string;
  turns: number;
  /** Sub-agents fanned out by one Agent step in turn 2 (0 = none). */
  subagents: number;
  /** Make one streaming request of this session break (resent non-streaming). */
  brokenStream: boolean;
  workdir: string;
}

const MARK = { type: 'ephemeral' as const };

function userId(spec: SessionSpec): string {
  return JSON.stringify({ device_id: spec.deviceId, account_uuid: '', session_id: spec.sessionId });
}

/**
 * Renders the history the way Claude Code sends it: one message-level cache_control marker on the last block of
 * the newest user/assistant message; earlier single-text-block user messages become plain strings.
 */
export function renderMessages(history: MessageParam[]): MessageParam[] {
  let last = -1;
  for (let i = history.length - 1; i >= 0; i--) {
    if (history[i]!.role !== 'system') {
      last = i;
      break;
    }
  }
  return history.map((m, i) => {
    if (typeof m.content === 'string') return { role: m.role, content: m.content };
    const blocks = m.content.map((b) => ({ ...b }) as ContentBlock);
    if (i === last) {
      const lb = blocks[blocks.length - 1] as ContentBlock & { cache_control?: unknown };
      lb.cache_control = MARK;
      return { role: m.role, content: blocks };
    }
    if (m.role === 'user' && blocks.length === 1 && blocks[0]!.type === 'text') {
      return { role: m.role, content: (blocks[0] as { text: string }).text };
    }
    return { role: m.role, content: blocks };
  });
}

function mainBody(spec: SessionSpec, history: MessageParam[], billing: string, stream = true): MessagesRequest {
  const c = spec.catalog;
  return {
    model: MAIN_MODEL,
    messages: renderMessages(history),
    system: systemBlocks(billing, c.identity, c.mainSystem),
    tools: c.mainTools,
    metadata: { user_id: userId(spec) },
    max_tokens: 64000,
    thinking: { type: 'adaptive' },
    context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
    output_config: { effort: 'high' },
    stream,
  };
}

function subagentBody(spec: SessionSpec, history: MessageParam[], billing: string): MessagesRequest {
  const c = spec.catalog;
  return {
    model: SUBAGENT_MODEL,
    messages: renderMessages(history),
    system: systemBlocks(billing, c.identity, c.subagentSystem, { subagent: true }),
    tools: c.subagentTools,
    metadata: { user_id: userId(spec) },
    max_tokens: 32000,
    thinking: { type: 'disabled' },
    output_config: { effort: 'high' },
    stream: true,
  };
}

function toolId(rng: Rng): string {
  return 'toolu_' + rng.hex(24);
}

/** One ordinary tool call (Read / Bash / Edit) and the result Claude Code would send back. */
function toolCall(rng: Rng, workdir: string, allowEdit: boolean): { use: ContentBlock; result: ToolResultBlock } {
  const id = toolId(rng);
  const r = rng.next();
  if (r < 0.55) {
    const file_path = filePath(rng, workdir);
    return {
      use: { type: 'tool_use', id, name: 'Read', input: { file_path } },
      result: { tool_use_id: id, type: 'tool_result', content: fileBody(rng, Math.round(rng.lognormal(2400, 1.8))) },
    };
  }
  if (r < 0.85 || !allowEdit) {
    const command = commandFor(rng);
    return {
      use: { type: 'tool_use', id, name: 'Bash', input: { command, description: sentence(rng, 3, 6) } },
      result: { tool_use_id: id, type: 'tool_result', content: commandOutput(rng, command, Math.round(rng.lognormal(700, 2))) },
    };
  }
  const file_path = filePath(rng, workdir);
  return {
    use: { type: 'tool_use', id, name: 'Edit', input: { file_path, old_string: sentence(rng, 3, 8), new_string: sentence(rng, 3, 8) } },
    result: { tool_use_id: id, type: 'tool_result', content: `The file ${file_path} has been updated successfully.` },
  };
}

function thinking(rng: Rng): ContentBlock {
  return { type: 'thinking', thinking: prose(rng, rng.int(150, 600)), signature: signature(rng) };
}

/** User pause between turns (reading the answer, typing the next prompt). */
function userPauseMs(rng: Rng): number {
  return Math.min(240_000, Math.max(4_000, rng.lognormal(35_000, 2.2)));
}
/** Client-side tool latency (Read/Bash/Edit run locally between two requests). */
function toolLatencyMs(rng: Rng): number {
  return Math.min(20_000, Math.max(40, rng.lognormal(350, 3)));
}

export function* titleAgent(spec: SessionSpec, prompt: string, billing: string): AgentScript {
  const rng = spec.rng.fork('title');
  const c = spec.catalog;
  const title = prose(rng, 20).split(' ').slice(0, 4).join(' ').replace(/\.$/, '');
  yield {
    kind: 'send',
    request: {
      kind: 'title',
      body: {
        model: TITLE_MODEL,
        messages: [
          {
            role: 'user',
            content: [
              {
                type: 'text',
                text: `<session>\n${prompt}\n</session>\n\nWrite the title in the language the user wrote in.`,
              },
            ],
          },
        ],
        system: systemBlocks(billing, c.identity, c.titleSystem, { cached: false }),
        tools: [],
        metadata: { user_id: userId(spec) },
        max_tokens: 32000,
        thinking: { type: 'disabled' },
        temperature: 1,
        output_config: {
          format: {
            type: 'json_schema',
            schema: { type: 'object', properties: { title: { type: 'string' } }, required: ['title'], additionalProperties: false },
          },
        },
        stream: true,
      },
      content: [{ type: 'text', text: JSON.stringify({ title }) }],
      stopReason: 'end_turn',
    },
  };
  return title;
}

export function* subAgent(spec: SessionSpec, index: number, task: string): AgentScript {
  const rng = spec.rng.fork(`subagent-${index}`);
  const billing = rng.hex(3);
  const history: MessageParam[] = [
    {
      role: 'user',
      content: [
        { type: 'text', text: contextReminder(spec.date) },
        { type: 'text', text: task },
      ],
    },
    { role: 'system', content: spec.catalog.skillsMessage },
  ];
  const steps = rng.int(1, 3);
  for (let s = 0; s < steps; s++) {
    const calls = Array.from({ length: rng.int(1, 2) }, () => toolCall(rng, spec.workdir, false));
    const content: ContentBlock[] = [{ type: 'text', text: sentence(rng, 5, 12) }, ...calls.map((c) => c.use)];
    yield { kind: 'send', request: { kind: 'subagent', body: subagentBody(spec, history, billing), content, stopReason: 'tool_use' } };
    history.push({ role: 'assistant', content });
    yield { kind: 'sleep', ms: toolLatencyMs(rng), reason: 'tool' };
    history.push({ role: 'user', content: calls.map((c) => c.result) });
  }
  const report = `Findings (worker ${index + 1}):\n` + prose(rng, rng.int(400, 1200));
  yield {
    kind: 'send',
    request: { kind: 'subagent', body: subagentBody(spec, history, billing), content: [{ type: 'text', text: report }], stopReason: 'end_turn' },
  };
  return report;
}

export function* mainAgent(spec: SessionSpec): AgentScript {
  const rng = spec.rng.fork('main');
  const billing = rng.hex(3);
  const history: MessageParam[] = [];
  let brokenUsed = !spec.brokenStream;
  for (let turn = 0; turn < spec.turns; turn++) {
    const prompt = userPrompt(rng);
    if (turn === 0) {
      history.push({
        role: 'user',
        content: [
          { type: 'text', text: contextReminder(spec.date) },
          { type: 'text', text: prompt },
        ],
      });
      history.push({ role: 'system', content: spec.catalog.agentTypesMessage });
      yield { kind: 'fork', child: titleAgent(spec, prompt, rng.hex(3)) };
    } else {
      yield { kind: 'sleep', ms: userPauseMs(rng), reason: 'user' };
      history.push({ role: 'user', content: [{ type: 'text', text: prompt }] });
    }
    const fanOutHere = spec.subagents > 0 && turn === Math.min(1, spec.turns - 1);
    // 0 tool steps = the prompt is answered directly with text (a 'text' turn).
    const toolSteps = fanOutHere ? rng.int(1, 3) + 1 : rng.int(0, 3);
    for (let s = 0; s <= toolSteps; s++) {
      const lead: ContentBlock[] = rng.chance(0.5) ? [thinking(rng)] : [];
      if (s === toolSteps) {
        const content: ContentBlock[] = [...lead, { type: 'text', text: prose(rng, rng.int(200, 900)) }];
        const breakStream = !brokenUsed && turn === spec.turns - 1;
        if (breakStream) brokenUsed = true;
        yield { kind: 'send', request: { kind: 'main', body: mainBody(spec, history, billing), content, stopReason: 'end_turn', breakStream } };
        history.push({ role: 'assistant', content });
        continue;
      }
      if (fanOutHere && s === 0) {
        const tasks = Array.from({ length: spec.subagents }, (_, i) => `${userPrompt(rng)} Focus on part ${i + 1} of ${spec.subagents}; report file paths and line numbers.`);
        const uses = tasks.map((prompt, i) => ({
          type: 'tool_use' as const,
          id: toolId(rng),
          name: 'Agent',
          input: { description: `Explore part ${i + 1}`, prompt, subagent_type: 'Explore' },
        }));
        const content: ContentBlock[] = [...lead, { type: 'text', text: sentence(rng) }, ...uses];
        yield { kind: 'send', request: { kind: 'main', body: mainBody(spec, history, billing), content, stopReason: 'tool_use' } };
        history.push({ role: 'assistant', content });
        const reports = (yield { kind: 'spawn', children: tasks.map((t, i) => subAgent(spec, i, t)) }) as string[];
        history.push({
          role: 'user',
          content: uses.map((u, i) => ({ tool_use_id: u.id, type: 'tool_result' as const, content: [{ type: 'text' as const, text: reports[i] ?? '' }] })),
        });
        continue;
      }
      const calls = Array.from({ length: rng.chance(0.25) ? 2 : 1 }, () => toolCall(rng, spec.workdir, true));
      const content: ContentBlock[] = [...lead, { type: 'text', text: sentence(rng) }, ...calls.map((c) => c.use)];
      const breakStream = !brokenUsed && turn === spec.turns - 1;
      if (breakStream) brokenUsed = true;
      yield {
        kind: 'send',
        request: { kind: 'main', body: mainBody(spec, history, billing), content, stopReason: 'tool_use', breakStream },
      };
      history.push({ role: 'assistant', content });
      yield { kind: 'sleep', ms: toolLatencyMs(rng), reason: 'tool' };
      history.push({ role: 'user', content: calls.map((c) => c.result) });
    }
  }
  return '';
}
