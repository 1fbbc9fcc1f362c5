import type { TextBlock, ToolDefinition } from '../shared/anthropic.js';
import type { Rng } from './rng.js';

/**
 * Generated content for synthetic Claude Code sessions: tool definitions, system prompts, prompts, file bodies,
 * command output and assistant prose. Only the *shape* follows real Claude Code 2.1.197 traffic (tool names and
 * sizes, three system blocks with a billing line first, a `system` message listing agent types); every string is
 * produced here from a seeded word list — nothing is copied from captured traffic.
 */

export const CLAUDE_CODE_VERSION = '2.1.197';

const WORDS = (
  'agent tool file path line change test build module function value result request response cache prefix ' +
  'token context session user command output error state config option parameter argument return type ' +
  'schema field record index buffer stream event handler server client worker queue task step plan review ' +
  'branch commit diff patch source target directory package import export class method interface layer ' +
  'call check verify update create delete read write edit search match pattern list report summary detail'
).split(' ');

const VERBS = 'use call check read write prefer avoid keep run create update return report verify include'.split(' ');
const ADVERBS = 'always never only carefully first then usually briefly exactly'.split(' ');

export function sentence(rng: Rng, minWords = 6, maxWords = 16): string {
  const n = rng.int(minWords, maxWords);
  const w: string[] = [];
  for (let i = 0; i < n; i++) {
    if (i === 1 && rng.chance(0.4)) w.push(rng.pick(ADVERBS));
    w.push(i % 3 === 1 ? rng.pick(VERBS) : rng.pick(WORDS));
  }
  const s = w.join(' ');
  return s[0]!.toUpperCase() + s.slice(1) + '.';
}

/** Prose of roughly `chars` characters (sentences, occasional paragraphs and bullet lists). */
export function prose(rng: Rng, chars: number): string {
  let out = '';
  while (out.length < chars) {
    const r = rng.next();
    if (r < 0.1) out += '\n\n';
    else if (r < 0.18) out += `\n- ${sentence(rng, 4, 10)}`;
    else out += (out === '' || out.endsWith('\n') ? '' : ' ') + sentence(rng);
  }
  return out.trim();
}

/** Real Claude Code 2.1.197 tool names with approximate serialised sizes (bytes) and argument names. */
const TOOL_SPECS: ReadonlyArray<readonly [name: string, bytes: number, props: readonly string[], subagent: boolean]> = [
  ['Agent', 2600, ['description', 'prompt', 'subagent_type', 'model', 'run_in_background'], true],
  ['Bash', 2750, ['command', 'timeout', 'description', 'run_in_background'], true],
  ['CronCreate', 4100, ['cron', 'prompt', 'recurring', 'durable'], true],
  ['CronDelete', 450, ['id'], true],
  ['CronList', 300, [], true],
  ['Edit', 1000, ['file_path', 'old_string', 'new_string', 'replace_all'], true],
  ['EnterWorktree', 3800, ['name', 'path'], true],
  ['ExitWorktree', 2550, ['action', 'discard_changes'], true],
  ['NotebookEdit', 1700, ['notebook_path', 'cell_id', 'new_source', 'cell_type', 'edit_mode'], true],
  ['Read', 1700, ['file_path', 'offset', 'limit', 'pages'], true],
  ['ReportFindings', 1900, ['level', 'findings'], true],
  ['ScheduleWakeup', 3800, ['delaySeconds', 'reason', 'prompt'], false],
  ['SendMessage', 1200, ['to', 'summary', 'message'], true],
  ['Skill', 2150, ['skill', 'args'], true],
  ['TaskCreate', 2850, ['subject', 'description', 'activeForm', 'metadata'], true],
  ['TaskGet', 1050, ['taskId'], true],
  ['TaskList', 1200, [], true],
  ['TaskOutput', 1600, ['task_id', 'block', 'timeout'], false],
  ['TaskStop', 560, ['task_id', 'shell_id'], true],
  ['TaskUpdate', 3600, ['taskId', 'subject', 'description', 'activeForm', 'status', 'owner'], true],
  ['WebFetch', 780, ['url', 'prompt'], true],
  ['WebSearch', 880, ['query', 'allowed_domains', 'blocked_domains'], true],
  ['Workflow', 21300, ['script', 'name', 'description', 'title', 'args', 'scriptPath'], false],
  ['Write', 660, ['file_path', 'content'], true],
];

function toolDefinition(rng: Rng, name: string, bytes: number, props: readonly string[]): ToolDefinition {
  const properties: Record<string, unknown> = {};
  for (const p of props) {
    const kind = rng.pick(['string', 'string', 'integer', 'boolean'] as const);
    properties[p] = { description: sentence(rng, 4, 12), type: kind };
  }
  const input_schema = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    properties,
    ...(props.length > 0 ? { required: [props[0]] } : {}),
    additionalProperties: false,
  };
  const overhead = JSON.stringify({ name, description: '', input_schema }).length;
  return { name, description: prose(rng, Math.max(80, bytes - overhead)), input_schema };
}

export interface SynthCatalog {
  /** Tools of a main (top-level) agent: 24 definitions, ~65 KB serialised. */
  mainTools: ToolDefinition[];
  /** Tools of a sub-agent: 21 of the main ones (no Workflow/ScheduleWakeup/TaskOutput), same text. */
  subagentTools: ToolDefinition[];
  /** system[1]: the short identity line (cache_control'd). */
  identity: string;
  /** system[2] of a main agent (~5.7 KB). */
  mainSystem: string;
  /** system[2] of a sub-agent (~2.5 KB). */
  subagentSystem: string;
  /** system[2] of the session-title side request. */
  titleSystem: string;
  /** The `role: "system"` message Claude Code puts after the first user message (agent types / skills). */
  agentTypesMessage: string;
  skillsMessage: string;
}

/** Everything shared by every session of one run (same bytes ⇒ the API cache can share it across sessions). */
export function buildCatalog(rng: Rng): SynthCatalog {
  const tools = TOOL_SPECS.map(([name, bytes, props]) => toolDefinition(rng, name, bytes, props));
  const sub = new Set(TOOL_SPECS.filter((t) => t[3]).map((t) => t[0]));
  const agentTypes = ['general-purpose', 'Explore', 'Plan', 'statusline-setup']
    .map((a) => `- ${a}: ${sentence(rng, 10, 24)} (Tools: ${a === 'Explore' ? 'Read, Bash' : '*'})`)
    .join('\n');
  const skills = ['code-review', 'deep-research', 'release-notes', 'test-triage']
    .map((s) => `- ${s}: ${prose(rng, 260)}`)
    .join('\n');
  return {
    mainTools: tools,
    subagentTools: tools.filter((t) => sub.has(t.name)),
    identity: 'You are a synthetic coding agent produced by trace-synth (shape of a Claude Agent SDK prompt).',
    mainSystem: '\nYou are an interactive agent that helps users with software engineering tasks.\n\n' + prose(rng, 5600),
    subagentSystem: 'You are a sub-agent. Complete the delegated task and report back concisely.\n\n' + prose(rng, 2450),
    titleSystem:
      'Generate a concise, sentence-case title (3-7 words) for this coding session. Return JSON with a single "title" field.\n\n' +
      prose(rng, 900),
    agentTypesMessage: 'Available agent types for the Agent tool:\n' + agentTypes + '\n\n' + prose(rng, 1200),
    skillsMessage: 'The following skills are available for use with the Skill tool:\n\n' + skills,
  };
}

/** The three system blocks: billing line (per conversation, uncached), identity, prompt (both cache_control'd). */
export function systemBlocks(billingSuffix: string, identity: string, prompt: string, opts: { subagent?: boolean; cached?: boolean } = {}): TextBlock[] {
  const cc = opts.cached === false ? {} : { cache_control: { type: 'ephemeral' as const } };
  return [
    {
      type: 'text',
      text: `x-anthropic-billing-header: cc_version=${CLAUDE_CODE_VERSION}.${billingSuffix}; cc_entrypoint=sdk-cli;${opts.subagent ? ' cc_is_subagent=true;' : ''}`,
    },
    { type: 'text', text: identity, ...cc },
    { type: 'text', text: prompt, ...cc },
  ];
}

export function contextReminder(date: string): string {
  return (
    `<system-reminder>\nAs you answer the user's questions, you can use the following context:\n# currentDate\n` +
    `Today's date is ${date}.\n\n      IMPORTANT: this context may or may not be relevant to your tasks.\n</system-reminder>\n\n`
  );
}

const PROMPT_TEMPLATES = [
  'Find where {x} is handled in the {y} module and explain the flow.',
  'The {x} test fails after the last change to {y}; find out why and fix it.',
  'Add a {x} option to the {y} command and update the tests.',
  'Refactor the {y} {x} code so the handler does not read the config twice.',
  'Review the {x} changes in {y} and list anything risky.',
  'Why is the {x} {y} slow on large inputs? Measure before changing anything.',
];

export function userPrompt(rng: Rng): string {
  return rng
    .pick(PROMPT_TEMPLATES)
    .replace('{x}', rng.pick(WORDS))
    .replace('{y}', rng.pick(WORDS));
}

const EXT = ['ts', 'ts', 'py', 'go', 'md', 'json'];

export function filePath(rng: Rng, root: string): string {
  return `${root}/src/${rng.pick(WORDS)}/${rng.pick(WORDS)}-${rng.pick(WORDS)}.${rng.pick(EXT)}`;
}

/** A file body as the Read tool returns it: `N\t<line>` per line. */
export function fileBody(rng: Rng, chars: number): string {
  const lines: string[] = [];
  let size = 0;
  let depth = 0;
  for (let i = 1; size < chars; i++) {
    const r = rng.next();
    let line: string;
    if (r < 0.12) {
      line = `${'  '.repeat(depth)}export function ${rng.pick(WORDS)}${rng.pick(WORDS)[0]!.toUpperCase()}(${rng.pick(WORDS)}: ${rng.pick(WORDS)}) {`;
      depth = Math.min(depth + 1, 3);
    } else if (r < 0.22 && depth > 0) {
      depth--;
      line = `${'  '.repeat(depth)}}`;
    } else if (r < 0.32) line = `${'  '.repeat(depth)}// ${sentence(rng, 4, 10)}`;
    else if (r < 0.38) line = '';
    else line = `${'  '.repeat(depth)}const ${rng.pick(WORDS)} = ${rng.pick(WORDS)}.${rng.pick(VERBS)}(${rng.pick(WORDS)});`;
    const l = `${i}\t${line}`;
    lines.push(l);
    size += l.length + 1;
  }
  return lines.join('\n');
}

export function commandFor(rng: Rng): string {
  return rng.pick(['npm test', 'git status --short', 'git diff --stat', 'ls -la src', 'npx tsc --noEmit', `grep -rn ${rng.pick(WORDS)} src`]);
}

export function commandOutput(rng: Rng, command: string, chars: number): string {
  const lines: string[] = [];
  let size = 0;
  while (size < chars) {
    const l = command.startsWith('npm test')
      ? `${rng.chance(0.9) ? ' ✓' : ' ✗'} test/${rng.pick(WORDS)}.test.ts (${rng.int(1, 40)} tests) ${rng.int(3, 900)}ms`
      : command.startsWith('grep')
        ? `src/${rng.pick(WORDS)}/${rng.pick(WORDS)}.ts:${rng.int(1, 400)}:  ${sentence(rng, 3, 8)}`
        : `${rng.pick(['M', 'A', '??', '-rw-r--r--'])} src/${rng.pick(WORDS)}/${rng.pick(WORDS)}.ts`;
    lines.push(l);
    size += l.length + 1;
  }
  return lines.join('\n');
}

/** An opaque, signature-shaped string (thinking blocks carry one; it is not model input). */
export function signature(rng: Rng): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let s = '';
  for (let i = 0; i < 240; i++) s += alphabet[Math.floor(rng.next() * 64)];
  return s;
}
