/**
 * Sweep spec: YAML (or JSON) naming datasets × models × attacks × step budgets.
 *
 *   name: mnist-smoke
 *   datasets:
 *     - name: mnist            # built-in datasets: mnist
 *       split: test            # test (default) | train
 *       samples: { first: 100 }  # all | { first: n } | { indices: [...] } | { indicesFile: path }
 *   models: [mnist-smallcnn]   # zoo names, or { name, path, sha256 } for a LayersModel folder
 *   attacks:
 *     - sigma-zero                           # registry name with default options
 *     - { name: sigma-zero, label: σ0-budget, options: { epsilonBudget: 24 } }
 *   steps: [100]               # step budgets; each attack runs once per budget
 *   batchSize: 32
 *   shardSize: 100             # samples per task (the unit of work of an agent)
 *   seed: 0
 *
 * Validation collects every problem with its field path (e.g. `attacks[1].options.lr`), so the
 * CLI can report them all and exit 2 before anything is written.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { ATTACKS } from '../agent/attacks/registry.ts';
import { DATASETS } from '../agent/data/registry.ts';
import { checkSelection, type Selection } from '../agent/data/select.ts';
import { zooManifest } from '../agent/models/zoo.ts';
import { formatZodIssues } from '../schema/wire.ts';

const samplesSchema = z.union([
  z.literal('all'),
  z.object({ first: z.number().int().min(1) }).strict(),
  z.object({ indices: z.array(z.number().int().min(0)).min(1) }).strict(),
  z.object({ indicesFile: z.string().min(1) }).strict(),
]);

const datasetSchema = z
  .object({
    name: z.string().min(1),
    split: z.enum(['test', 'train']).default('test'),
    samples: samplesSchema.default('all'),
  })
  .strict();

const modelSchema = z.union([
  z.string().min(1),
  z
    .object({
      name: z.string().min(1),
      path: z.string().min(1),
      sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
    })
    .strict(),
]);

const attackSchema = z.union([
  z.string().min(1),
  z
    .object({
      name: z.string().min(1),
      label: z.string().min(1).optional(),
      options: z.record(z.string(), z.unknown()).default({}),
    })
    .strict(),
]);

export const sweepSpecSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-" only'),
    datasets: z.array(datasetSchema).min(1),
    models: z.array(modelSchema).min(1),
    attacks: z.array(attackSchema).min(1),
    steps: z.array(z.number().int().min(1).max(1_000_000)).min(1),
    batchSize: z.number().int().min(1).max(4096).default(32),
    shardSize: z.number().int().min(1).default(100),
    seed: z.number().int().min(0).default(0),
  })
  .strict();

export type SweepSpecInput = z.input<typeof sweepSpecSchema>;

export interface ResolvedDataset {
  name: string;
  split: 'test' | 'train';
  indices: number[];
}
export interface ResolvedModel {
  name: string;
  path?: string;
  sha256: string;
}
export interface ResolvedAttack {
  label: string;
  name: string;
  /** user options as written in the spec (without preset/steps): what the sweep id hashes */
  options: Record<string, unknown>;
  /** the complete option set per step budget (preset ⊕ defaults ⊕ user, validated once, here) */
  resolved: Record<number, Record<string, unknown>>;
}
export interface SweepSpec {
  name: string;
  datasets: ResolvedDataset[];
  models: ResolvedModel[];
  attacks: ResolvedAttack[];
  steps: number[];
  batchSize: number;
  shardSize: number;
  seed: number;
}

export class SpecError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: invalid sweep spec:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'SpecError';
  }
}

/** Validate a parsed spec object; relative paths (indicesFile, model path) resolve against baseDir. */
export function validateSpec(raw: unknown, source: string, baseDir: string): SweepSpec {
  const r = sweepSpecSchema.safeParse(raw);
  if (!r.success) throw new SpecError(source, formatZodIssues(r.error));
  const s = r.data;
  const problems: string[] = [];

  const datasets: ResolvedDataset[] = s.datasets.map((d, i) => {
    const where = `datasets[${i}]`;
    const known = DATASETS.get(d.name);
    if (!known) {
      problems.push(`${where}.name: unknown dataset '${d.name}' (known: ${[...DATASETS.keys()].join(', ')})`);
      return { name: d.name, split: d.split, indices: [] };
    }
    const smp = d.samples;
    let selection: Selection;
    let field = `${where}.samples`;
    if (smp === 'all') selection = { kind: 'all' };
    else if ('first' in smp) selection = { kind: 'first', n: smp.first };
    else if ('indices' in smp) selection = { kind: 'indices', indices: smp.indices };
    else {
      field = `${where}.samples.indicesFile`;
      const file = path.resolve(baseDir, smp.indicesFile);
      let list: unknown = [];
      try {
        const text = readFileSync(file, 'utf8');
        list = text.trim().startsWith('[') ? JSON.parse(text) : text.split(/[\s,]+/).filter(Boolean).map(Number);
      } catch (e) {
        problems.push(`${field}: cannot read ${file}: ${(e as Error).message}`);
        return { name: d.name, split: d.split, indices: [] };
      }
      if (!Array.isArray(list)) {
        problems.push(`${field}: ${file} holds no list of indices`);
        return { name: d.name, split: d.split, indices: [] };
      }
      selection = { kind: 'indices', indices: list };
    }
    const checked = checkSelection(selection, known.splits[d.split], `${d.name}/${d.split}`);
    for (const p of checked.problems) {
      // indicesFile problems are named after the file field: `samples.indicesFile[3]`
      const at = field.endsWith('indicesFile') ? p.at.replace(/^indices/, '') : `.${p.at}`;
      problems.push(`${field}${at}: ${p.message}`);
    }
    return { name: d.name, split: d.split, indices: checked.indices };
  });

  const zoo = zooManifest();
  const models: ResolvedModel[] = s.models.map((m, i) => {
    if (typeof m === 'string') {
      const e = zoo[m];
      if (!e) {
        problems.push(`models[${i}]: unknown zoo model '${m}' (known: ${Object.keys(zoo).join(', ')}); give { name, path, sha256 } for your own`);
        return { name: m, sha256: '0'.repeat(64) };
      }
      return { name: m, sha256: e.sha256 };
    }
    const dir = path.resolve(baseDir, m.path);
    if (!existsSync(path.join(dir, 'model.json'))) problems.push(`models[${i}].path: no model.json in ${dir}`);
    return { name: m.name, path: dir, sha256: m.sha256 };
  });

  const attacks: ResolvedAttack[] = s.attacks.map((a, i) => {
    const name = typeof a === 'string' ? a : a.name;
    const options = typeof a === 'string' ? {} : a.options;
    const label = typeof a === 'string' ? a : (a.label ?? a.name);
    const resolved: Record<number, Record<string, unknown>> = {};
    const def = ATTACKS.get(name);
    if (!def) {
      problems.push(`attacks[${i}]${typeof a === 'string' ? '' : '.name'}: unknown attack '${name}' (known: ${[...ATTACKS.keys()].join(', ')})`);
    } else if ('steps' in options) {
      problems.push(`attacks[${i}].options.steps: set step budgets with the top-level 'steps' list`);
    } else {
      for (const steps of s.steps) {
        try {
          resolved[steps] = def.resolve(options, steps);
        } catch (e) {
          if (!(e instanceof z.ZodError)) throw e;
          const seen = new Set(problems);
          for (const p of formatZodIssues(e)) if (!seen.has(`attacks[${i}].options.${p}`)) problems.push(`attacks[${i}].options.${p}`);
        }
      }
    }
    return { label, name, options, resolved };
  });
  const labels = new Set<string>();
  attacks.forEach((a, i) => {
    const key = a.label;
    if (labels.has(key)) problems.push(`attacks[${i}]: label '${key}' is used twice; give one of them a distinct 'label'`);
    labels.add(key);
  });
  s.steps.forEach((v, i) => {
    if (s.steps.indexOf(v) !== i) problems.push(`steps[${i}]: budget ${v} is listed twice`);
  });
  const modelNames = new Set<string>();
  models.forEach((m, i) => {
    if (modelNames.has(m.name)) problems.push(`models[${i}]: model name '${m.name}' is used twice`);
    modelNames.add(m.name);
  });

  if (problems.length) throw new SpecError(source, problems);
  return { name: s.name, datasets, models, attacks, steps: s.steps, batchSize: s.batchSize, shardSize: s.shardSize, seed: s.seed };
}

export function loadSpecFile(file: string): SweepSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new SpecError(file, [`cannot read file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = YAML.parse(text, { prettyErrors: true });
  } catch (e) {
    throw new SpecError(file, [`not valid YAML: ${(e as Error).message.split('\n')[0]}`]);
  }
  return validateSpec(raw, file, path.dirname(path.resolve(file)));
}
