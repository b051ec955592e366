/**
 * Dataset entries of sweep specs: path, the ImageNet fields, `samples: { paper: n }` (the σ-zero
 * paper's subsets, committed from CPython's random.sample), each problem named by its field and
 * exit 2 through the CLI; `sigma-sweep plan` on a CIFAR-10 spec; MNIST specs keep their ids.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { paperSamples } from '../agent/data/paper-samples.ts';
import { planSweep } from '../orchestrator/planner.ts';
import { SpecError, validateSpec } from '../orchestrator/spec.ts';
import { taskSchema } from '../schema/wire.ts';
import { cli } from './helpers/cli.ts';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'datasets-spec-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A CIFAR-10 test_batch.bin of the right size (10000 records of 3073 bytes, label r mod 10). */
function cifarFolder(): string {
  const dir = tmp();
  const buf = Buffer.alloc(10_000 * 3073, 128);
  for (let r = 0; r < 10_000; r++) buf[r * 3073] = r % 10;
  writeFileSync(path.join(dir, 'test_batch.bin'), buf);
  return dir;
}

/** A model entry that exists on disk (plan and validation do not load models). */
function onnxModel(): { name: string; path: string; sha256: string } {
  const file = path.join(tmp(), 'model.onnx');
  writeFileSync(file, '');
  return { name: 'net', path: file, sha256: 'a'.repeat(64) };
}

const base = { name: 'ds', models: ['mnist-smallcnn'], attacks: ['sigma-zero'], steps: [100] };

function problems(raw: unknown, baseDir = process.cwd()): string[] {
  try {
    validateSpec(raw, 'spec.yaml', baseDir);
  } catch (e) {
    if (e instanceof SpecError) return e.problems;
    throw e;
  }
  return [];
}

describe("the paper's samples (random.seed(1233); random.sample(range(1, N), n))", () => {
  // first indices as CPython 3.6 … 3.13 print them (scripts/data/paper_samples.py)
  it.each([
    [10_000, 1000, [5149, 4933, 8344, 4949, 3025]],
    [10_000, 100, [5149, 4933, 8344, 4949, 3025]],
    [50_000, 1000, [20593, 19730, 33375, 19795, 12097]],
    [50_000, 100, [20593, 19730, 33375, 19795, 12097]],
  ])('N=%i n=%i', (N, n, first) => {
    const list = paperSamples(N, n)!;
    expect(list.slice(0, 5)).toEqual(first);
    expect(list).toHaveLength(n);
    expect(new Set(list).size).toBe(n);
    expect(list.every((i) => Number.isInteger(i) && i >= 1 && i <= N - 1)).toBe(true);
  });

  it('the 100-sample lists are the first 100 of the 1000-sample lists; other sizes have none', () => {
    for (const N of [10_000, 50_000]) expect(paperSamples(N, 100)).toEqual(paperSamples(N, 1000)!.slice(0, 100));
    expect(paperSamples(10_000, 500)).toBeUndefined();
    expect(paperSamples(60_000, 1000)).toBeUndefined();
  });

  it('the committed files say how they were made', () => {
    const doc = JSON.parse(readFileSync(new URL('../agent/data/paper-samples/N50000-n1000.json', import.meta.url), 'utf8'));
    expect(doc.description).toBe('random.seed(1233); random.sample(range(1, 50000), 1000)');
    expect(doc.generator).toBe('python3 scripts/data/paper_samples.py');
  });

  it('a spec selects them with samples: { paper: n }, in the drawn order', () => {
    const s = validateSpec({ ...base, datasets: [{ name: 'mnist', samples: { paper: 1000 } }] }, 'spec.yaml', process.cwd());
    expect(s.datasets[0].indices).toEqual(paperSamples(10_000, 1000));
    const c = validateSpec({ ...base, datasets: [{ name: 'cifar10', path: cifarFolder(), samples: { paper: 100 } }] }, 'spec.yaml', process.cwd());
    expect(c.datasets[0].indices).toEqual(paperSamples(10_000, 100));
  });
});

describe('dataset fields of a spec', () => {
  it('names the field of every problem', async () => {
    const cifar = cifarFolder();
    const imagenet = tmp();
    mkdirSync(path.join(imagenet, 'n01440764'));
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toFile(path.join(imagenet, 'n01440764', 'a.png'));
    const classes = path.join(tmp(), 'classes.txt');
    writeFileSync(classes, ['n01440764', ...Array.from({ length: 999 }, (_, i) => `x${i}`)].join('\n'));
    const cases: Array<[unknown, RegExp]> = [
      [{ name: 'mnist', samples: { paper: 500 } }, /^datasets\[0\]\.samples\.paper: the paper's mnist samples come in 1000 and 100, not 500$/],
      [{ name: 'fashion-mnist', samples: { paper: 1000 } }, /^datasets\[0\]\.samples\.paper: the σ-zero paper has no fashion-mnist samples \(paper lists exist for: mnist, cifar10, imagenet\)$/],
      [{ name: 'mnist', split: 'train', samples: { paper: 1000 } }, /^datasets\[0\]\.samples\.paper: the paper's samples are drawn from the test split, not train$/],
      [{ name: 'mnist', samples: { paper: 0 } }, /^datasets\[0\]\.samples\.paper: Number must be greater than or equal to 1$/],
      [{ name: 'cifar10' }, /^datasets\[0\]\.path: \(no path\): cifar10 needs path: required: the folder of the CIFAR-10 binary version/],
      [{ name: 'cifar10', path: '/nonexistent/cifar' }, /^datasets\[0\]\.path: \/nonexistent\/cifar: no such folder/],
      [{ name: 'cifar10', path: cifar, resize: '224' }, /^datasets\[0\]\.resize: cifar10 takes no resize \(its fields: path\)$/],
      [{ name: 'mnist', labels: 'x.txt' }, /^datasets\[0\]\.labels: mnist takes no labels \(its fields: path\)$/],
      [{ name: 'imagenet', split: 'train', path: imagenet }, /^datasets\[0\]\.split: imagenet has no train split \(it has: test\)$/],
      [{ name: 'imagenet', path: imagenet }, /^datasets\[0\]\.path: .*: holds 1 class sub-folders; numbering classes by sorted folder name needs all 1000/],
      [{ name: 'imagenet', path: imagenet, classes: '/nonexistent/classes.txt' }, /^datasets\[0\]\.classes: \/nonexistent\/classes\.txt: cannot read: ENOENT$/],
      [{ name: 'imagenet', path: imagenet, classes, samples: { paper: 100 } }, /^datasets\[0\]\.samples\.paper: the paper's imagenet samples index a test split of 50000 images; .* holds 1$/],
      [{ name: 'imagenet', path: imagenet, classes, samples: { first: 2 } }, /^datasets\[0\]\.samples\.first: 2 exceeds the 1 samples of imagenet\/test$/],
      [{ name: 'imagenet', path: imagenet, classes, resize: 256 }, /^datasets\[0\]\.resize: Invalid enum value\. Expected '224' \| '256-crop-224', received '256'$/],
    ];
    for (const [entry, message] of cases) {
      const p = problems({ ...base, datasets: [entry] });
      expect(p.some((x) => message.test(x)), `${JSON.stringify(entry)}:\n${p.join('\n')}`).toBe(true);
    }
    // and a valid ImageNet entry: the resize is always part of the resolved entry (224 unless given)
    const ok = validateSpec({ ...base, datasets: [{ name: 'imagenet', path: imagenet, classes, resize: 224 }] }, 'spec.yaml', process.cwd());
    expect(ok.datasets[0]).toEqual({ name: 'imagenet', split: 'test', path: imagenet, classes, resize: '224', indices: [0] });
  });

  it('relative paths are relative to the spec file; the task carries the absolute path; MNIST tasks carry none', async () => {
    const dir = tmp();
    const cifar = cifarFolder();
    mkdirSync(path.join(dir, 'data'));
    const rel = path.relative(dir, cifar);
    writeFileSync(
      path.join(dir, 'spec.yaml'),
      [`name: cifar-plan`, `datasets:`, `  - { name: cifar10, path: ${rel}, samples: { paper: 1000 } }`, `  - { name: mnist, samples: { first: 3 } }`, `models:`, `  - { name: net, path: m/model.onnx, sha256: ${'a'.repeat(64)} }`, `attacks: [sigma-zero]`, `steps: [100]`, `shardSize: 500`].join('\n'),
    );
    mkdirSync(path.join(dir, 'm'));
    writeFileSync(path.join(dir, 'm', 'model.onnx'), '');
    const r = await cli(['plan', path.join(dir, 'spec.yaml'), '--json']);
    expect(r.code, r.err).toBe(0);
    const tasks = r.out.trim().split('\n').map((l) => taskSchema.parse(JSON.parse(l)));
    expect(tasks).toHaveLength(3);
    expect(tasks[0].dataset).toEqual({ name: 'cifar10', split: 'test', path: cifar });
    expect(tasks[0].sampleIndices.slice(0, 5)).toEqual([5149, 4933, 8344, 4949, 3025]);
    expect(tasks[1].sampleIndices).toEqual(paperSamples(10_000, 1000)!.slice(500));
    expect(tasks[2].dataset).toEqual({ name: 'mnist', split: 'test' });

    const text = await cli(['plan', path.join(dir, 'spec.yaml')]);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/sweep cifar-plan-[0-9a-f]{10}: 3 task\(s\), 1003 attack runs/);
    expect(text.out).toContain('cifar10/test[5149..');
  });

  it('the CLI exits 2 naming the dataset field and the file, and writes nothing', async () => {
    const dir = tmp();
    const cifar = cifarFolder();
    writeFileSync(path.join(cifar, 'test_batch.bin'), Buffer.alloc(3073 * 10)); // ten records
    const spec = path.join(dir, 'spec.yaml');
    const model = onnxModel();
    writeFileSync(spec, `name: bad\ndatasets: [{ name: cifar10, path: ${cifar}, samples: { paper: 1000 } }]\nmodels: [{ name: net, path: ${model.path}, sha256: ${model.sha256} }]\nattacks: [sigma-zero]\nsteps: [100]\n`);
    const plan = await cli(['plan', spec]);
    expect(plan.code).toBe(2);
    expect(plan.out).toBe('');
    expect(plan.err).toContain(`datasets[0].path: ${path.join(cifar, 'test_batch.bin')}: 30730 bytes; a CIFAR-10 batch file is 10000 records of 3073 bytes (30730000 bytes), this one holds 10 records`);
    const run = await cli(['run', spec, '--data-dir', path.join(dir, 'db')]);
    expect(run.code).toBe(2);
    expect(run.err).toContain('datasets[0].path:');
    expect(existsSync(path.join(dir, 'db'))).toBe(false);

    writeFileSync(spec, `name: bad\ndatasets: [{ name: mnist, samples: { paper: 10 } }]\nmodels: [mnist-smallcnn]\nattacks: [sigma-zero]\nsteps: [100]\n`);
    const paper = await cli(['plan', spec]);
    expect(paper.code).toBe(2);
    expect(paper.err).toContain("datasets[0].samples.paper: the paper's mnist samples come in 1000 and 100, not 10");
  });

  it('MNIST specs without the new fields plan the same tasks as before (ids hashed from the same fields)', () => {
    // sweep id and first task key of this spec before datasets took paths (computed on the previous commit)
    const spec = { name: 'unit', datasets: [{ name: 'mnist', split: 'train', samples: { indices: [5, 7, 9] } }, { name: 'mnist', samples: { first: 7 } }], models: ['mnist-smallcnn'], attacks: ['sigma-zero'], steps: [100] };
    const p = planSweep(validateSpec(spec, 'x', '/tmp'));
    expect(p.sweepId).toBe('unit-52434b4c84');
    expect(p.tasks.map((t) => t.key)).toEqual(['844ce079964accf6fa189908930bd504', '29c348587b321034266cf51c639d802a']);
  });
});
