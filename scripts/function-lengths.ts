/**
 * Lists functions/methods in src/ longer than a limit (default 120 lines), longest first:
 * `npx tsx scripts/function-lengths.ts [limit]`. Exit code 1 when any is over the limit.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const limit = Number(process.argv[2] ?? 120);
const root = join(import.meta.dirname, '..');

function* files(dir: string): Generator<string> {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) yield p;
  }
}

const long: { where: string; name: string; lines: number }[] = [];
for (const f of files(join(root, 'src'))) {
  const sf = ts.createSourceFile(f, readFileSync(f, 'utf8'), ts.ScriptTarget.Latest, true);
  const visit = (n: ts.Node) => {
    if (ts.isFunctionLike(n) && 'body' in n && n.body) {
      const start = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(n.getEnd()).line;
      const lines = end - start + 1;
      if (lines > limit) {
        const name = (n as ts.FunctionLikeDeclaration).name?.getText(sf) ?? (ts.isVariableDeclaration(n.parent) ? n.parent.name.getText(sf) : '(anonymous)');
        long.push({ where: `${relative(root, f)}:${start + 1}`, name, lines });
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
}
long.sort((a, b) => b.lines - a.lines);
for (const l of long) console.log(`${String(l.lines).padStart(5)}  ${l.name}  ${l.where}`);
console.log(`${long.length} function(s) over ${limit} lines`);
process.exit(long.length > 0 ? 1 : 0);
