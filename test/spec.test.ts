import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSpecFile, SpecError, validateSpec } from '../orchestrator/spec.ts';
import { planSweep } from '../orchestrator/planner.ts';
import { main } from '../orchestrator/cli.ts';

const base = {
  name: 'unit',
  datasets: [{ name: 'mnist', split: 'test', samples: { first: 10 } }],
  models: ['mnist-smallcnn'],
  attacks: ['sigma-zero'],
  steps: [100],
};

function problems(raw: unknown): string[] {
  try {
    validateSpec(raw, 'spec.yaml', process.cwd());
  } catch (e) {
    if (e instanceof SpecError) return e.problems;
    throw e;
  }
  return [];
}

describe('sweep spec validation', () => {
  it('accepts a minimal spec and fills the defaults', () => {
    const s = validateSpec(base, 'spec.yaml', process.cwd());
    expect(s.batchSize).toBe(32);
    expect(s.shardSize).toBe(100);
    expect(s.datasets[0].indices).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it.each([
    [{ ...base, colour: 'red' }, /^\(root\): Unrecognized key.*colour/],
    [{ ...base, steps: ['100'] }, /^steps\[0\]: Expected number/],
    [{ ...base, steps: [0] }, /^steps\[0\]: Number must be greater than or equal to 1/],
    [{ ...base, batchSize: 1.5 }, /^batchSize: Expected integer/],
    [{ ...base, datasets: [{ name: 'mnist', samples: { first: 0 } }] }, /^datasets\[0\]\.samples/],
    [{ ...base, datasets: [{ name: 'mnist', samples: { first: 20000 } }] }, /^datasets\[0\]\.samples\.first: 20000 exceeds the 10000 samples/],
    [{ ...base, datasets: [{ name: 'mnist', samples: { indices: [3, 3] } }] }, /^datasets\[0\]\.samples\.indices\[1\]: index 3 appears twice/],
    [{ ...base, datasets: [{ name: 'mnist', samples: { indices: [10000] } }] }, /^datasets\[0\]\.samples\.indices\[0\]: 10000 is not an index/],
    [{ ...base, datasets: [{ name: 'cifar11' }] }, /^datasets\[0\]\.name: unknown dataset 'cifar11'/],
    [{ ...base, models: ['resnet-9000'] }, /^models\[0\]: unknown zoo model 'resnet-9000'/],
    [{ ...base, models: [{ name: 'x', path: 'm', sha256: 'abc' }] }, /^models\[0\]\.sha256: must be 64 lowercase hex digits/],
    [{ ...base, models: [{ name: 'x', path: '/nonexistent', sha256: 'a'.repeat(64) }] }, /^models\[0\]\.path: \/nonexistent does not exist/],
    [{ ...base, models: [{ name: 'x', path: '/tmp', sha256: 'a'.repeat(64) }] }, /^models\[0\]\.path: no model.json in \/tmp \(a TensorFlow.js LayersModel folder or an .onnx file\)/],
    [{ ...base, models: [{ name: 'x', path: '/etc/hostname', sha256: 'a'.repeat(64) }] }, /^models\[0\]\.path: \/etc\/hostname is neither a LayersModel folder \(model.json\) nor an .onnx file/],
    [{ ...base, attacks: ['sigma-one'] }, /^attacks\[0\]: unknown attack 'sigma-one'/],
    [{ ...base, attacks: [{ name: 'sigma-zero', options: { lr: -1 } }] }, /^attacks\[0\]\.options\.lr: Number must be greater than 0/],
    [{ ...base, attacks: [{ name: 'sigma-zero', options: { learningRate: 1 } }] }, /^attacks\[0\]\.options\.\(root\): Unrecognized key.*learningRate/],
    [{ ...base, attacks: [{ name: 'sigma-zero', options: { steps: 5 } }] }, /^attacks\[0\]\.options\.steps: set step budgets/],
    [{ ...base, attacks: ['sigma-zero', 'sigma-zero'] }, /^attacks\[1\]: label 'sigma-zero' is used twice/],
  ])('reports %j with the field path', (raw, pattern) => {
    const p = problems(raw);
    expect(p.length).toBeGreaterThan(0);
    expect(p.some((x) => pattern.test(x)), p.join('\n')).toBe(true);
  });

  it('reports every problem at once', () => {
    const p = problems({ ...base, steps: [0], attacks: ['nope'], extra: 1 });
    expect(p.length).toBeGreaterThanOrEqual(2);
  });

  it('the CLI exits 2 on a bad spec and writes nothing', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sigma-spec-'));
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'name: bad\ndatasets: [{name: mnist}]\nmodels: [mnist-smallcnn]\nattacks: [sigma-zero]\nsteps: [-3]\n');
    const out: string[] = [];
    const code = await main(['node', 'sigma-sweep', 'run', file, '--data-dir', path.join(dir, 'data')], (s) => out.push(s));
    expect(code).toBe(2);
    expect(out.join('')).toBe('');
    const { existsSync } = await import('node:fs');
    expect(existsSync(path.join(dir, 'data'))).toBe(false);
  });

  it('the CLI exits 2 on YAML syntax errors and missing files', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sigma-spec-'));
    const file = path.join(dir, 'broken.yaml');
    writeFileSync(file, 'name: [unclosed\n');
    expect(await main(['node', 'sigma-sweep', 'plan', file], () => {})).toBe(2);
    expect(await main(['node', 'sigma-sweep', 'plan', path.join(dir, 'missing.yaml')], () => {})).toBe(2);
    expect(() => loadSpecFile(path.join(dir, 'missing.yaml'))).toThrow(/cannot read file/);
  });

  it('the CLI exits 2 on unknown flags and subcommands', async () => {
    expect(await main(['node', 'sigma-sweep', 'run', 'x.yaml', '--bogus'], () => {})).toBe(2);
    expect(await main(['node', 'sigma-sweep', 'frobnicate'], () => {})).toBe(2);
  });
});

describe('planner', () => {
  const spec = () =>
    validateSpec(
      { ...base, datasets: [{ name: 'mnist', samples: { first: 250 } }], attacks: ['sigma-zero', 'sigma-zero*'], steps: [100, 1000] },
      'spec.yaml',
      process.cwd(),
    );

  it('expands datasets × models × attacks × steps × shards', () => {
    const { tasks } = planSweep(spec());
    expect(tasks).toHaveLength(2 * 2 * 3);
    expect(tasks.map((t) => t.sampleIndices.length).slice(0, 3)).toEqual([100, 100, 50]);
    const star = tasks.find((t) => t.attack.label === 'sigma-zero*' && t.steps === 1000)!;
    expect(star.attack.options).toMatchObject({ lr: 0.1, sigma: 1, threshold: 0.1, t: 0.0015 });
    // the step budget travels once, as the task's `steps`
    expect(star.steps).toBe(1000);
    expect(star.attack.options).not.toHaveProperty('steps');
  });

  it('same spec → same sweep id and task keys; any change → different keys', () => {
    const a = planSweep(spec());
    const b = planSweep(spec());
    expect(b.sweepId).toBe(a.sweepId);
    expect(b.tasks.map((t) => t.key)).toEqual(a.tasks.map((t) => t.key));
    expect(new Set(a.tasks.map((t) => t.key)).size).toBe(a.tasks.length);
    const changed = planSweep({ ...spec(), batchSize: 16 });
    expect(changed.tasks.some((t) => a.tasks.map((x) => x.key).includes(t.key))).toBe(false);
  });

  it('key order inside option objects does not matter', () => {
    const x = validateSpec({ ...base, attacks: [{ name: 'sigma-zero', options: { lr: 0.5, sigma: 0.01 } }] }, 's', process.cwd());
    const y = validateSpec({ ...base, attacks: [{ name: 'sigma-zero', options: { sigma: 0.01, lr: 0.5 } }] }, 's', process.cwd());
    expect(planSweep(x).tasks[0].key).toBe(planSweep(y).tasks[0].key);
  });
});
