/**
 * The layering of src/: no cycle among the modules' runtime imports, neither
 * between files nor between the top-level folders (model, sae, analysis,
 * server, cli, ...), so each layer can be read, tested and bundled without
 * the ones above it. Type-only imports are erased at compile time and are not
 * counted. Imports are read with TypeScript's own parser.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { root } from './helpers.ts';

/** Every .ts file under `dir`, relative to the project root. */
function sources(dir: string): string[] {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    return e.isDirectory() ? sources(rel) : rel.endsWith('.ts') ? [rel] : [];
  });
}

/** The relative modules a file imports at run time (static, re-exports and dynamic `import()`). */
export function runtimeImports(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, false);
  const out: string[] = [];
  const add = (spec: ts.Expression | undefined) => {
    if (spec && ts.isStringLiteral(spec) && spec.text.startsWith('.')) out.push(path.normalize(path.join(path.dirname(file), spec.text)));
  };
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n)) {
      const c = n.importClause;
      const bindings = c?.namedBindings;
      const allTypes = c !== undefined && (c.isTypeOnly || (!c.name && bindings !== undefined && ts.isNamedImports(bindings) && bindings.elements.length > 0 && bindings.elements.every((e) => e.isTypeOnly)));
      if (!allTypes) add(n.moduleSpecifier);
    } else if (ts.isExportDeclaration(n)) {
      const allTypes = n.isTypeOnly || (n.exportClause !== undefined && ts.isNamedExports(n.exportClause) && n.exportClause.elements.length > 0 && n.exportClause.elements.every((e) => e.isTypeOnly));
      if (!allTypes) add(n.moduleSpecifier);
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) add(n.arguments[0]);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** Strongly connected components with more than one node (Tarjan). */
export function cycles(graph: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const strong = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1) out.push(c.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) strong(v);
  return out;
}

test('the import graph finds cycles, and ignores type-only imports', () => {
  const g = new Map([['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])], ['d', new Set(['a'])]]);
  assert.deepEqual(cycles(g), [['a', 'b', 'c']]);
  const imports = runtimeImports('src/x/a.ts', "import type { T } from './t.ts';\nimport { type U, type V } from './u.ts';\nimport { w } from '../w.ts';\nexport { z } from './z.ts';\nexport type { Y } from './y.ts';\nconst m = await import('./m.ts');\nimport * as fs from 'node:fs';");
  assert.deepEqual(imports, ['src/w.ts', 'src/x/z.ts', 'src/x/m.ts']);
});

test('src/ has no import cycle between files or between its top-level folders', () => {
  const files = new Map<string, ReadonlySet<string>>();
  for (const f of sources('src')) files.set(f, new Set(runtimeImports(f, fs.readFileSync(path.join(root, f), 'utf8'))));
  assert.deepEqual(cycles(files), [], 'file cycles');
  const layer = (f: string) => f.split(path.sep)[1].replace(/\.ts$/, '');
  const layers = new Map<string, Set<string>>();
  const why = new Map<string, string>();
  for (const [f, deps] of files) {
    for (const d of deps) {
      const [a, b] = [layer(f), layer(d)];
      if (a === b) continue;
      if (!layers.has(a)) layers.set(a, new Set());
      layers.get(a)!.add(b);
      why.set(`${a}->${b}`, `${f} -> ${d}`);
    }
  }
  const found = cycles(layers);
  assert.deepEqual(found, [], `folder cycles; edges: ${found.flatMap((c) => c.flatMap((a) => c.filter((b) => layers.get(a)?.has(b)).map((b) => why.get(`${a}->${b}`)))).join('; ')}`);
});
