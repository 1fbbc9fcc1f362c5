/**
 * Tool-grammar bench (llama engine, tiny random GGUF 2 × 64, CPU, 1 thread): for the same prompt and seeds, the
 * share of replies the HTTP layer's parser turns into a tool call, without vs with the grammar, and decode
 * tokens/s without vs with it (the grammar sampler's per-token cost), measured side by side in one run. Also the
 * time to build the GBNF text and to compile it (llama.createGrammar, via the engine's first request).
 * Tools: the 25 real Claude Code tool definitions of ../shared/fixtures (main-tool-first-2.1.197.json) when
 * present, else a single Read tool.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchModule } from './bench.js';
import { writeTinyModel } from '../src/serve/gguf/tiny-model.js';
import { createLlamaEngine } from '../src/serve/engines/llama-engine.js';
import type { Engine, GenerateEvent, GenerateRequest } from '../src/serve/engine.js';
import { buildToolGrammar, type GrammarTool } from '../src/serve/tool-grammar.js';
import { ToolCallStreamParser } from '../src/serve/http/tool-call-parser.js';

const FIXTURE = join(import.meta.dirname, '..', '..', 'shared', 'fixtures', 'claude-code', 'main-tool-first-2.1.197.json');
const READ: GrammarTool = { name: 'Read', input_schema: { type: 'object', properties: { file_path: { type: 'string' } }, required: ['file_path'] } };

async function gen(engine: Engine, req: GenerateRequest): Promise<{ text: string; done: Extract<GenerateEvent, { type: 'done' }> }> {
  let text = '';
  let done: Extract<GenerateEvent, { type: 'done' }> | undefined;
  for await (const e of engine.generate(req)) {
    if (e.type === 'token') text += e.text;
    else if (e.type === 'done') done = e;
  }
  return { text: text + (done!.trailingText ?? ''), done: done! };
}

function isToolCall(text: string, tools: GrammarTool[]): boolean {
  const p = new ToolCallStreamParser(tools.map((t) => ({ name: t.name, parameters: t.input_schema })));
  const pieces = [...p.push(text), ...p.end()];
  return pieces.some((x) => x.type === 'tool_call' && tools.some((t) => t.name === x.name));
}

const bench: BenchModule = {
  name: 'tool-grammar',
  description: 'grammar-constrained tool calls: well-formed call rate and decode tok/s without vs with the GBNF grammar (tiny random GGUF)',
  async run() {
    const tools: GrammarTool[] = existsSync(FIXTURE) ? (JSON.parse(readFileSync(FIXTURE, 'utf8')) as { tools: GrammarTool[] }).tools : [READ];
    const dir = mkdtempSync(join(tmpdir(), 'trace-tool-grammar-bench-'));
    const modelPath = join(dir, 'tiny.gguf');
    writeTinyModel(modelPath, { layers: 2, dim: 64, seed: 7 });
    const engine = await createLlamaEngine({ modelPath, cacheBytes: 1 << 30, contextSize: 2048, slots: 1, threads: 1, gpu: false });
    try {
      const t0 = performance.now();
      const grammar = buildToolGrammar(tools);
      const buildMs = performance.now() - t0;
      const prompt = await engine.tokenize('<|im_start|>system\nYou can call tools.<|im_end|>\n<|im_start|>user\nRead the file.<|im_end|>\n<|im_start|>assistant\n');
      const t1 = performance.now();
      await gen(engine, { promptTokens: prompt, maxTokens: 1, grammar }); // compiles + caches the grammar
      const firstMs = performance.now() - t1;
      const runs = 12;
      const acc = { plain: { calls: 0, tokens: 0, ms: 0 }, grammar: { calls: 0, tokens: 0, ms: 0 } };
      for (let seed = 1; seed <= runs; seed++) {
        const plain = await gen(engine, { promptTokens: prompt, maxTokens: 160, temperature: 1, seed });
        const constrained = await gen(engine, { promptTokens: prompt, maxTokens: 1500, temperature: 1, seed, grammar });
        for (const [k, r] of [['plain', plain], ['grammar', constrained]] as const) {
          if (isToolCall(r.text, tools)) acc[k].calls++;
          acc[k].tokens += Math.max(0, r.done.outputTokens - 1);
          acc[k].ms += r.done.decodeMs;
        }
      }
      const tps = (k: 'plain' | 'grammar') => (acc[k].ms > 0 ? (acc[k].tokens / acc[k].ms) * 1000 : NaN);
      const slowdown = tps('plain') / tps('grammar');
      return {
        metrics: {
          tools: tools.length,
          grammar_bytes: grammar.length,
          grammar_build_ms: +buildMs.toFixed(2),
          first_request_with_compile_ms: +firstMs.toFixed(1),
          runs,
          tool_call_rate_plain: +(acc.plain.calls / runs).toFixed(2),
          tool_call_rate_grammar: +(acc.grammar.calls / runs).toFixed(2),
          decode_tokens_per_s_plain: +tps('plain').toFixed(1),
          decode_tokens_per_s_grammar: +tps('grammar').toFixed(1),
          grammar_decode_slowdown: +slowdown.toFixed(2),
        },
        lines: [
          `${tools.length} tools (${existsSync(FIXTURE) ? 'real Claude Code 2.1.197 definitions' : 'fallback Read tool'}), grammar ${grammar.length} bytes built in ${buildMs.toFixed(2)} ms; first request incl. compile ${firstMs.toFixed(0)} ms`,
          `well-formed tool calls over ${runs} seeds: without grammar ${acc.plain.calls}/${runs}, with grammar ${acc.grammar.calls}/${runs}`,
          `decode (tiny 2×64 model, 1 CPU thread): ${tps('plain').toFixed(0)} tok/s without vs ${tps('grammar').toFixed(0)} tok/s with grammar → ${slowdown.toFixed(2)}× the per-token time`,
        ],
      };
    } finally {
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default bench;
