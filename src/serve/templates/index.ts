/**
 * Real chat templates shipped with trace (verbatim; sources and hashes in ./README.md). The .jinja files live
 * beside this module in src/; from dist/ they are found by walking up to the checkout's src/serve/templates.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BUNDLED_TEMPLATES = {
  'qwen3-coder': 'qwen3-coder.jinja',
  'devstral-small-2507': 'devstral-small-2507.jinja',
} as const;

export type BundledTemplateName = keyof typeof BUNDLED_TEMPLATES;
export const BUNDLED_TEMPLATE_NAMES = Object.keys(BUNDLED_TEMPLATES) as BundledTemplateName[];

export function isBundledTemplate(name: string): name is BundledTemplateName {
  return Object.hasOwn(BUNDLED_TEMPLATES, name);
}

function templatesDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  if (existsSync(join(here, BUNDLED_TEMPLATES['qwen3-coder']))) return here;
  let dir = here;
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'src', 'serve', 'templates');
    if (existsSync(join(candidate, BUNDLED_TEMPLATES['qwen3-coder']))) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`bundled chat templates not found near ${here}`);
}

/** The Jinja text of a bundled template. */
export function bundledTemplate(name: BundledTemplateName): string {
  return readFileSync(join(templatesDir(), BUNDLED_TEMPLATES[name]), 'utf8');
}

/** The hand-written family (src/serve/http/chat-template.ts) that approximates a Jinja template: the fallback renderer. */
export function templateFamilyOf(source: string | null | undefined): string {
  if (!source) return 'raw';
  if (source.includes('<|im_start|>')) return source.includes('<think>') ? 'qwen3' : 'chatml';
  if (source.includes('<|start_header_id|>')) return 'llama3';
  return 'raw';
}
