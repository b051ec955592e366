/**
 * Layers point one way: commands → orchestrator → agent (compute) → protocol / schema. Read from
 * the sources (static imports, re-exports and dynamic import() of relative paths), so a new file
 * that breaks the rule fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Relative module specifiers of a source file. */
export function relativeImports(source: string): string[] {
  const out: string[] = [];
  const re = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\s*\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)|^\s*import\s*['"](\.{1,2}\/[^'"]+)['"]/gm;
  for (const m of source.matchAll(re)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|js)$/.test(e.name))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
}

/** Every import edge from files under `dir`: [importing file, imported file], repo-relative. */
function edges(dir: string): Array<[string, string]> {
  return sources(dir).flatMap((file) =>
    relativeImports(readFileSync(path.join(ROOT, file), 'utf8')).map((spec): [string, string] => [file, path.relative(ROOT, path.resolve(ROOT, path.dirname(file), spec))]),
  );
}

const under = (file: string, ...dirs: string[]) => dirs.some((d) => file === d || file.startsWith(`${d}/`));

describe('import graph', () => {
  it('the parser sees static, type-only, re-export and dynamic imports', () => {
    const src = `import a from './a.ts';\nimport type { B } from '../b.ts';\nexport { c } from './c.ts';\nconst d = await import('../../d.ts');\nimport './e.js';\nimport x from 'zod';`;
    expect(relativeImports(src)).toEqual(['./a.ts', '../b.ts', './c.ts', '../../d.ts', './e.js']);
  });

  it('finds imports in this repository (the checks below are not vacuous)', () => {
    expect(edges('agent').length).toBeGreaterThan(50);
    expect(edges('orchestrator').some(([, to]) => under(to, 'agent'))).toBe(true);
  });

  it('agent/ (the compute library) never imports orchestrator/ or the commands', () => {
    const bad = edges('agent').filter(([, to]) => under(to, 'orchestrator', 'bin'));
    expect(bad).toEqual([]);
  });

  it('protocol/ and schema/ import neither agent/ nor orchestrator/', () => {
    const bad = [...edges('protocol'), ...edges('schema')].filter(([, to]) => under(to, 'agent', 'orchestrator', 'bin'));
    expect(bad).toEqual([]);
  });

  it('agent/attacks imports only its own helpers, the engine contract and schema/ (attacks are pure functions)', () => {
    const bad = edges('agent/attacks').filter(([, to]) => !under(to, 'agent/attacks', 'schema'));
    expect(bad).toEqual([]);
  });

  it('the orchestrator machinery does not import the command files', () => {
    const bad = edges('orchestrator')
      .filter(([from]) => !under(from, 'orchestrator/commands') && from !== 'orchestrator/cli.ts')
      .filter(([, to]) => under(to, 'orchestrator/commands') || to === 'orchestrator/cli.ts');
    expect(bad).toEqual([]);
  });
});
