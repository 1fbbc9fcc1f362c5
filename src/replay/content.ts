import type { MessagesRequest } from '../shared/anthropic.js';
import type { PlannedRequest } from './types.js';
import { mulberry32 } from '../shared/prng.js';

/** `--max-tokens`: 'recorded' (the recorded output length, else the body's max_tokens) or a fixed number. */
export type MaxTokensOption = 'recorded' | number;

export const DEFAULT_MAX_TOKENS = 1024;

export function maxTokensFor(req: PlannedRequest, opt: MaxTokensOption): number {
  if (typeof opt === 'number') return opt;
  const rec = req.recorded.outputTokens;
  if (rec !== null && rec > 0) return rec;
  const b = req.body?.max_tokens;
  return typeof b === 'number' && b > 0 ? b : DEFAULT_MAX_TOKENS;
}

/** Content 'recorded': the recorded body, model replaced, max_tokens per option, streaming. */
export function recordedBody(req: PlannedRequest, model: string, maxTokens: MaxTokensOption): MessagesRequest {
  if (!req.body) throw new Error(`request ${req.id} has no recorded body`);
  const body = structuredClone(req.body);
  body.model = model;
  body.max_tokens = maxTokensFor(req, maxTokens);
  body.stream = true;
  return body;
}

/**
 * Filler vocabulary: short, common lower-case English words. With a leading space each is a single token in
 * the BPE vocabularies of common open models (GPT-2/Llama/Qwen style pre-tokenisers split on ` word`), so a
 * block of N words is ≈ N target tokens and never merges with its neighbour blocks. An approximation: a given
 * tokenizer may split a few of these words, which shifts token counts slightly but never breaks sharing.
 */
const WORDS = (
  'the of and to in is it you that he was for on are as with his they at be this have from or one had by word but ' +
  'not what all were we when your can said there use an each which she do how their if will up other about out ' +
  'many then them these so some her would make like him into time has look two more write go see number no way ' +
  'could people my than first water been call who oil its now find long down day did get come made may part over ' +
  'new sound take only little work know place year live me back give most very after thing our just name good ' +
  'sentence man think say great where help through much before line right too mean old any same tell boy follow ' +
  'came want show also around form three small set put end does another well large must big even such because ' +
  'turn here why ask went men read need land different home us move try kind hand picture again change off play ' +
  'spell air away animal house point page letter mother answer found study still learn should world high every ' +
  'near add food between own below country plant last school father keep tree never start city earth eye light ' +
  'thought head under story saw left few while along might close something seem next hard open example begin life'
).split(' ');


function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Deterministic filler of `words` words for a seed (every word with a leading space). */
export function fillerText(seed: number, words: number): string {
  const rnd = mulberry32(seed ^ 0x9e3779b9);
  let s = '';
  for (let i = 0; i < words; i++) s += ' ' + WORDS[Math.floor(rnd() * WORDS.length)]!;
  return s;
}

const blockCache = new Map<string, string>();
const BLOCK_CACHE_MAX = 100_000;

/** Text of one block: equal hash id ⇒ byte-identical text (memoised; shared prefixes repeat a lot). */
export function blockText(hashId: number, blockSize: number): string {
  const key = `${blockSize}:${hashId}`;
  let t = blockCache.get(key);
  if (t === undefined) {
    t = fillerText(Math.imul(hashId + 1, 0x85ebca6b) ^ hashId, blockSize);
    if (blockCache.size >= BLOCK_CACHE_MAX) blockCache.clear();
    blockCache.set(key, t);
  }
  return t;
}

/**
 * Content 'synthetic': one user message made of the request's blocks (filler per hash id, `blockSize` words
 * each) followed by a unique tail for the partial last block (input tokens − full blocks), so requests share
 * exactly the prefixes their hash ids share.
 */
export function syntheticBody(req: PlannedRequest, model: string, maxTokens: MaxTokensOption, defaultBlockSize = 64): MessagesRequest {
  const bs = req.blockSize ?? defaultBlockSize;
  const ids = req.hashIds ?? [];
  let text = '';
  for (const h of ids) text += blockText(h, bs);
  const tail = Math.max(0, (req.recorded.promptTokens ?? ids.length * bs) - ids.length * bs);
  if (tail > 0 || text === '') text += fillerText(hashString('tail:' + req.id), Math.max(tail, 1));
  return { model, max_tokens: maxTokensFor(req, maxTokens), stream: true, messages: [{ role: 'user', content: text }] };
}

/**
 * Cache-bust (`--cache-bust`, AgentX-style): puts `marker` at the start of the first user message, so a repeat
 * cannot read an earlier repeat's conversation from the server's prefix cache while tools and system (rendered
 * before the messages) stay shared. Every request of an agent repeats that first message, so the whole agent
 * carries the same marker. Mutates and returns `body` (a fresh copy from recordedBody/syntheticBody).
 */
export function applyCacheBust(body: MessagesRequest, marker: string): MessagesRequest {
  const first = body.messages.find((m) => m.role === 'user');
  if (!first) return body;
  const tag = `[${marker}] `;
  if (typeof first.content === 'string') first.content = tag + first.content;
  else if (Array.isArray(first.content)) {
    const head = first.content[0];
    if (head && head.type === 'text') head.text = tag + head.text;
    else first.content.unshift({ type: 'text', text: tag });
  }
  return body;
}
