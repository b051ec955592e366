/**
 * Sweep specs that used to be accepted (and give wrong answers) or reported unreadably: non-finite
 * attack options, fixed budgets beyond the input, zod unions' "Invalid input", and thousands of
 * problems from one bad file. Each is refused with the field named, and the CLI exits 2.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { z } from 'zod';
import { ATTACKS, getAttack } from '../agent/attacks/registry.ts';
import { main } from '../orchestrator/cli.ts';
import { capProblems, loadSpecFile, SpecError, validateSpec } from '../orchestrator/spec.ts';
import { WireFormatError } from '../schema/wire.ts';

const base = {
  name: 'unit',
  datasets: [{ name: 'mnist', split: 'test', samples: { first: 10 } }],
  models: ['mnist-smallcnn'],
  attacks: ['sigma-zero'],
  steps: [100],
};

function specError(raw: unknown, baseDir = process.cwd()): SpecError {
  try {
    validateSpec(raw, 'spec.yaml', baseDir);
  } catch (e) {
    if (e instanceof SpecError) return e;
    throw e;
  }
  throw new Error('the spec was accepted');
}

const problems = (raw: unknown, baseDir?: string) => specError(raw, baseDir).problems;

function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'sigma-spec-hard-'));
}

/** Write a YAML spec and run `sigma-sweep plan` on it: exit code, stdout and stderr. */
async function plan(yaml: string[], files: Record<string, string | Buffer> = {}): Promise<{ code: number; out: string; err: string }> {
  const dir = tempDir();
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
  const file = path.join(dir, 'spec.yaml');
  writeFileSync(file, [...yaml, ''].join('\n'));
  const out: string[] = [];
  const err: string[] = [];
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (err.push(String(s)), true));
  try {
    const code = await main(['node', 'sigma-sweep', 'plan', file], (s) => out.push(s));
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    write.mockRestore();
  }
}

const specLines = (attack: string, samples = '{ first: 10 }') => ['name: hard', `datasets: [{ name: mnist, samples: ${samples} }]`, 'models: [mnist-smallcnn]', `attacks: [${attack}]`, 'steps: [100]'];

afterEach(() => vi.restoreAllMocks());

describe('non-finite attack options', () => {
  it('YAML .inf, -.inf and .nan are refused with the option named', () => {
    const dir = tempDir();
    const file = path.join(dir, 'spec.yaml');
    writeFileSync(file, specLines('{ name: sigma-zero, options: { lr: .inf, t: -.inf, sigma: .nan } }').join('\n'));
    const err = (() => {
      try {
        loadSpecFile(file);
      } catch (e) {
        return e as SpecError;
      }
      throw new Error('accepted');
    })();
    expect(err.problems).toEqual([
      'attacks[0].options.lr: must be a finite number, got Infinity',
      'attacks[0].options.t: must be a finite number, got -Infinity',
      'attacks[0].options.sigma: must be a finite number, got NaN',
    ]);
  });

  it('the CLI exits 2 on `lr: .inf` and prints no plan', async () => {
    const r = await plan(specLines('{ name: sigma-zero, options: { lr: .inf } }'));
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain('  - attacks[0].options.lr: must be a finite number, got Infinity');
  });

  const everyOption = [...ATTACKS.values()].flatMap((def) =>
    Object.keys((def.options as z.AnyZodObject).shape)
      .filter((o) => o !== 'steps')
      .map((o) => [def.name, o] as const),
  );

  it('the list covers every attack with options', () => {
    expect(new Set(everyOption.map(([a]) => a))).toEqual(new Set([...ATTACKS.keys()].filter((a) => a !== 'noop')));
  });

  it.each(everyOption)('%s option %s = Infinity is refused at the spec', (name, option) => {
    expect(problems({ ...base, attacks: [{ name, options: { [option]: Infinity } }] })).toEqual([`attacks[0].options.${option}: must be a finite number, got Infinity`]);
  });

  it('and at the task edge (bind), permanently', () => {
    expect(() => getAttack('sigma-zero').bind({ lr: Infinity }, 10)).toThrow(new WireFormatError('options of attack sigma-zero', ['lr: must be a finite number, got Infinity']));
  });
});

describe('fixed budgets beyond the input', () => {
  it.each([
    ['pgd-l0', { k: 1e9 }, 'attacks[0].options.k: 1000000000 exceeds the 784 pixels of mnist'],
    ['pgd-l0', { k: 785 }, 'attacks[0].options.k: 785 exceeds the 784 pixels of mnist'],
    ['sparse-rs', { k: 785 }, 'attacks[0].options.k: 785 exceeds the 784 features of mnist'],
    ['sigma-zero', { epsilonBudget: 785 }, 'attacks[0].options.epsilonBudget: 785 exceeds the 784 features of mnist'],
    ['sigma-zero*', { epsilonBudget: 100000 }, 'attacks[0].options.epsilonBudget: 100000 exceeds the 784 features of mnist'],
  ])('%s %j is refused naming the field', (name, options, message) => {
    // two step budgets, one problem
    expect(problems({ ...base, attacks: [{ name, options }], steps: [10, 100] })).toEqual([message]);
  });

  it.each([
    ['pgd-l0', { k: 784 }],
    ['sparse-rs', { k: 784 }],
    ['sigma-zero', { epsilonBudget: 784 }],
  ])('%s %j (the whole input) is accepted', (name, options) => {
    const s = validateSpec({ ...base, attacks: [{ name, options }] }, 'spec.yaml', process.cwd());
    expect(s.attacks[0].resolved[100]).toMatchObject(options);
  });

  it('the CLI exits 2 on PGD-ℓ0 `k: 1e9`', async () => {
    const r = await plan(specLines('{ name: pgd-l0, options: { k: 1e9 } }'));
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain('  - attacks[0].options.k: 1000000000 exceeds the 784 pixels of mnist');
  });
});

describe('unions say what they accept and what is missing', () => {
  const forms = 'all | { first: n } | { indices: [...] } | { indicesFile: path } | { paper: n }';
  it.each([
    [{ ...base, datasets: [{ name: 'mnist', samples: { last: 3 } }] }, [`datasets[0].samples: expected ${forms}, got {"last":3}`]],
    [{ ...base, datasets: [{ name: 'mnist', samples: 'some' }] }, [`datasets[0].samples: expected ${forms}, got "some"`]],
    [{ ...base, datasets: [{ name: 'mnist', samples: { first: 'ten' } }] }, ['datasets[0].samples.first: Expected number, received string']],
    [{ ...base, datasets: [{ name: 'mnist', samples: { indices: [] } }] }, ['datasets[0].samples.indices: Array must contain at least 1 element(s)']],
    [
      { ...base, models: [{ name: 'mine', path: 'models/mine' }] },
      ['models[0].sha256: required with path (the sha256 of the model: `sha256sum model.onnx`; for a LayersModel folder `cat model.json weights.bin | sha256sum`)'],
    ],
    [{ ...base, models: [{ name: 'mine', sha256: 'a'.repeat(64) }] }, ['models[0].path: required with sha256 (an .onnx file, or a TensorFlow.js LayersModel folder holding model.json)']],
    [{ ...base, models: [7] }, ['models[0]: expected a zoo model name or { name, path, sha256 }, got 7']],
    [
      { ...base, attacks: [{ options: { lr: 0.5 } }] },
      [`attacks[0].name: required (an attack name: ${[...ATTACKS.keys()].join(', ')})`],
    ],
    [{ ...base, attacks: [['sigma-zero']] }, ['attacks[0]: expected an attack name or { name, label?, options? }, got ["sigma-zero"]']],
  ])('%j', (raw, expected) => {
    expect(problems(raw)).toEqual(expected);
  });
});

describe('indicesFile', () => {
  it('an empty file selects no sample', () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'none.txt'), '');
    expect(problems({ ...base, datasets: [{ name: 'mnist', samples: { indicesFile: 'none.txt' } }] }, dir)).toEqual(['datasets[0].samples.indicesFile: selects no sample']);
  });

  it('a 3 MB binary file is one problem, found quickly', () => {
    const dir = tempDir();
    const bytes = Buffer.alloc(3_000_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) % 251; // has NUL bytes, like any binary
    writeFileSync(path.join(dir, 'weights.bin'), bytes);
    const t0 = performance.now();
    const err = specError({ ...base, datasets: [{ name: 'mnist', samples: { indicesFile: 'weights.bin' } }] }, dir);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(err.problems).toEqual([
      `datasets[0].samples.indicesFile: ${path.join(dir, 'weights.bin')} is a binary file, not a list of indices (a JSON array, or integers separated by white space or commas)`,
    ]);
    expect(err.count).toBe(1);
  });

  it('a text file with bad items lists the first 10 (quoting them) and counts the rest', () => {
    const dir = tempDir();
    const items = ['3', 'three', ...Array.from({ length: 998 }, (_, i) => String(20_000 + i))];
    writeFileSync(path.join(dir, 'idx.txt'), items.join('\n'));
    const err = specError({ ...base, datasets: [{ name: 'mnist', samples: { indicesFile: 'idx.txt' } }] }, dir);
    expect(err.count).toBe(999);
    expect(err.problems).toEqual([
      'datasets[0].samples.indicesFile[1]: three is not an index in 0..9999 (outside mnist/test)',
      ...Array.from({ length: 9 }, (_, i) => `datasets[0].samples.indicesFile[${i + 2}]: ${20_000 + i} is not an index in 0..9999 (outside mnist/test)`),
      '… and 989 more problems in datasets[0].samples.indicesFile',
    ]);
  });

  it('the CLI prints a binary indicesFile as one problem and exits 2', async () => {
    const bytes = Buffer.alloc(3_000_000, 0);
    const r = await plan(specLines('sigma-zero', '{ indicesFile: blob.bin }'), { 'blob.bin': bytes });
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err.trim().split('\n')).toHaveLength(2); // "<file>: invalid sweep spec:" and the one problem
    expect(r.err).toMatch(/- datasets\[0\]\.samples\.indicesFile: .*blob\.bin is a binary file, not a list of indices/);
  });
});

describe('problem lists are capped', () => {
  it('at 10 per field and 50 lines in all, with counts', () => {
    const datasets = Array.from({ length: 8 }, () => ({ name: 'mnist', samples: { indices: Array.from({ length: 20 }, (_, i) => -1 - i) } }));
    const err = specError({ ...base, datasets });
    expect(err.count).toBe(160);
    expect(err.problems).toHaveLength(51);
    expect(err.problems.slice(9, 12)).toEqual([
      'datasets[0].samples.indices[9]: Number must be greater than or equal to 0',
      '… and 10 more problems in datasets[0].samples.indices',
      'datasets[1].samples.indices[0]: Number must be greater than or equal to 0',
    ]);
    // 4 datasets × (10 + 1 summary) = 44 lines, then 6 problems of datasets[4]: 46 problems shown
    expect(err.problems.at(-2)).toBe('datasets[4].samples.indices[5]: Number must be greater than or equal to 0');
    expect(err.problems.at(-1)).toBe('… and 74 more problems (160 in all)');
    expect(err.message.split('\n')).toHaveLength(52);
  });

  it('capProblems leaves short lists alone and folds list positions into their field', () => {
    const few = ['steps[0]: a', 'steps[1]: b', 'attacks[0].options.lr: c'];
    expect(capProblems(few)).toEqual(few);
    const many = Array.from({ length: 12 }, (_, i) => `steps[${i}]: bad`);
    expect(capProblems(many)).toEqual([...many.slice(0, 10), '… and 2 more problems in steps']);
  });
});
