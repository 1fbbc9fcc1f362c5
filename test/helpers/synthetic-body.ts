/**
 * A Claude-Code-shaped request body for tests that normally read a real one from ../shared and must still run
 * where it is absent: 30 tools with distinct descriptions, three system blocks (billing line first), one user
 * message — every tool and system block is long enough (≥ 64 bytes) to be its own body-codec segment.
 */
export function syntheticCliBody(): { model: string; max_tokens: number; tools: { name: string; description: string; input_schema: object }[]; system: { type: 'text'; text: string }[]; messages: { role: 'user'; content: { type: 'text'; text: string }[] }[] } {
  return {
    model: 'm',
    max_tokens: 32000,
    tools: Array.from({ length: 30 }, (_, i) => ({
      name: `Tool${i}`,
      description: `Tool ${i}: reads, edits or runs something in the repository; ${'details '.repeat(20 + i)}`,
      input_schema: { type: 'object', properties: { path: { type: 'string' } } },
    })),
    system: [
      { type: 'text', text: 'x-anthropic-billing-header: cc_version=test; cc_entrypoint=cli; synthetic body for tests' },
      { type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude (synthetic test prompt)." },
      { type: 'text', text: `Instructions. ${'Follow the repository conventions. '.repeat(40)}` },
    ],
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Summarise what the modules of this repository do, one line each.' }] }],
  };
}
