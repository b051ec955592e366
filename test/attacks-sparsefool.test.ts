/**
 * SparseFool (spec §4.8): a three-class toy linear model traced by hand (points, ℓ0 and the exact
 * query count), the linear MNIST oracle (valid, never sparser than the exact optimum, failures
 * unchanged, mostly successful, the query formula from the diagnostics, deterministic, no tensor
 * leak), a few MNIST SmallCNN images, and option validation.
 */
import * as tf from '@tensorflow/tfjs';
import { ZodError } from 'zod';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../agent/engine/backend.ts';
import { MeteredModel } from '../agent/engine/metered-model.ts';
import { linearSolver, sparsefool, sparsefoolAttack } from '../agent/attacks/sparsefool.ts';
import { loadDataset } from '../agent/data/registry.ts';
import { gather } from '../agent/data/select.ts';
import { runDefinition, type AttackRun } from './helpers/attack-run.ts';
import { D, trainLinear, type LinearSetup } from './helpers/linear-model.ts';
import { loadSmallCnn } from './helpers/zoo.ts';

const N = 8;
let lin: LinearSetup;

beforeAll(async () => {
  await selectBackend('wasm');
  lin = trainLinear(N);
});

/**
 * Input [2, 2, 1] (4 features), 3 classes: f0 = x0 + 0.1, f1 = x1, f2 = x2 − 1.
 * A = (.5, .5, .5, .5), y 0: DeepFool picks class 1 (|f1 − f0|/‖w‖ = 0.1/√2 < 1.1/√2) and one pass
 * of r = 0.05·(−1, 1, 0, 0), ×1.02, crosses; x_B' moves 3·0.051 = 0.153 per coordinate; the normal
 * is (−1, 1, 0, 0)/√2; the solver moves feature 0 (first of the tie) by 0.306 + 0.001·√2 and stops:
 * ℓ0 1, feature 0 = 0.5 − 1.02·(0.306 + 0.001√2).
 * B = (.5, .9, .5, .5), y 0: already class 1, returned as is after one forward.
 * C = (.1, .05, .5, .5), y 0: DeepFool step 0.075·1.02 = 0.0765, x_B' offset 0.2295; feature 0 wants
 * −(0.459 + 0.001√2) and is clipped at 0 (−0.1), so the solver moves feature 1 by
 * 0.359 + 0.001√2 too: ℓ0 2, features (0, 0.05 + 1.02·(0.359 + 0.001√2)).
 */
function toyModel(): tf.LayersModel {
  const net = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [2, 2, 1] }), tf.layers.dense({ units: 3 })] });
  net.layers[1].setWeights([tf.tensor2d([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0], [4, 3]), tf.tensor1d([0.1, 0, -1])]);
  return net;
}
const TOY_X = Float32Array.from([0.5, 0.5, 0.5, 0.5, 0.5, 0.9, 0.5, 0.5, 0.1, 0.05, 0.5, 0.5]);
const TOY_Y = Int32Array.from([0, 0, 0]);
const A0 = 0.5 - 1.02 * (0.306 + 0.001 * Math.SQRT2);
const C1 = 0.05 + 1.02 * (0.359 + 0.001 * Math.SQRT2);

function checkLinear(r: AttackRun) {
  for (const v of r.adv) expect(v >= 0 && v <= 1).toBe(true);
  r.success.forEach((s, i) => {
    if (s) expect(r.l0[i], `sample ${i} sparser than the exact optimum`).toBeGreaterThanOrEqual(lin.optimum[i]);
    else expect(r.l0[i], `failed sample ${i} must come back unchanged`).toBe(0);
  });
}

/** The query formula of the header, from the diagnostics (K classes). */
function expectedQueries(diag: Record<string, number[]>, K: number): { forwards: number; backwards: number } {
  const sum = (k: string) => diag[k].reduce((a, b) => a + b, 0);
  const n = diag.sparsefoolSteps.length;
  const steps = sum('sparsefoolSteps');
  const df = sum('deepfoolSteps');
  return { forwards: n + 2 * steps + df + sum('deepfoolSuccesses'), backwards: steps + K * df };
}

describe('sparsefool on a hand-traced linear model', () => {
  it('gives the traced points and the exact query count (1F + K·B per DeepFool pass, as the reference)', async () => {
    const net = toyModel();
    const r = await runDefinition(sparsefoolAttack, net, TOY_X, TOY_Y, [2, 2, 1], { steps: 5 });
    expect(r.pred).toEqual([1, 1, 1]);
    expect(r.l0).toEqual([1, 0, 2]);
    expect(r.adv[0]).toBeCloseTo(A0, 5);
    expect(Array.from(r.adv.subarray(1, 8))).toEqual([0.5, 0.5, 0.5, 0.5, Math.fround(0.9), 0.5, 0.5]);
    expect(r.adv[8]).toBe(0);
    expect(r.adv[9]).toBeCloseTo(C1, 5);
    expect(r.diagnostics).toEqual({ sparsefoolSteps: [1, 0, 1], deepfoolSteps: [1, 0, 1], deepfoolSuccesses: [1, 0, 1] });
    // A and C: outer check, DeepFool check, 3 class backwards (3B), DeepFool check (fooled),
    // x_B' (1F + 1B), outer check (fooled): 5F + 4B each, as the reference; B: 1F.
    expect([r.forwards, r.backwards]).toEqual([5 + 1 + 5, 4 + 4]);
    expect(expectedQueries(r.diagnostics!, 3)).toEqual({ forwards: r.forwards, backwards: r.backwards });
    net.dispose();
  });

  it('a DeepFool cap of one pass skips the fooled check; one outer step ends with the final check', async () => {
    const net = toyModel();
    const capped = await runDefinition(sparsefoolAttack, net, TOY_X, TOY_Y, [2, 2, 1], { steps: 5, deepfoolSteps: 1 });
    expect(capped.diagnostics!.deepfoolSuccesses).toEqual([0, 0, 0]);
    expect([capped.forwards, capped.backwards]).toEqual([4 + 1 + 4, 8]);
    expect(capped.l0).toEqual([1, 0, 2]);
    const once = await runDefinition(sparsefoolAttack, net, TOY_X, TOY_Y, [2, 2, 1], { steps: 1 });
    expect([once.forwards, once.backwards]).toEqual([11, 8]);
    expect(once.adv).toEqual(capped.adv);
    net.dispose();
  });

  it('linear solver: stops at the first sign change; a clipped coordinate moves on to the next', () => {
    const s = Math.SQRT1_2;
    const normal = Float32Array.from([-s, s, 0, 0]);
    const a = linearSolver(Float32Array.from([0.5, 0.5, 0.5, 0.5]), normal, Float32Array.from([0.347, 0.653, 0.5, 0.5]), [2, 2, 1]);
    expect(a[0]).toBeCloseTo(0.5 - (0.306 + 0.001 * Math.SQRT2), 5);
    expect(Array.from(a.subarray(1))).toEqual([0.5, 0.5, 0.5]);
    const c = linearSolver(Float32Array.from([0.1, 0.05, 0.5, 0.5]), normal, Float32Array.from([-0.1295, 0.2795, 0.5, 0.5]), [2, 2, 1]);
    expect(c[0]).toBe(0);
    expect(c[1]).toBeCloseTo(0.05 + 0.359 + 0.001 * Math.SQRT2, 5);
    // a zero normal has no coordinate to move
    expect(linearSolver(Float32Array.from([0.2, 0.3]), new Float32Array(2), Float32Array.from([1, 1]), [1, 2, 1])).toEqual(Float32Array.from([0.2, 0.3]));
  });
});

describe('sparsefool on the linear MNIST oracle', () => {
  it('valid, never sparser than the optimum, mostly successful, query formula, deterministic', async () => {
    const r = await runDefinition(sparsefoolAttack, lin.net, lin.xs, lin.ys, [28, 28, 1], { steps: 10 });
    checkLinear(r);
    expect(r.success.filter(Boolean).length).toBeGreaterThanOrEqual(N - 2);
    expect(expectedQueries(r.diagnostics!, 10)).toEqual({ forwards: r.forwards, backwards: r.backwards });
    expect(Math.min(...r.diagnostics!.sparsefoolSteps)).toBeGreaterThanOrEqual(1);
    const again = await runDefinition(sparsefoolAttack, lin.net, lin.xs, lin.ys, [28, 28, 1], { steps: 10 });
    expect(again.adv).toEqual(r.adv);
    expect([again.forwards, again.backwards]).toEqual([r.forwards, r.backwards]);
  });

  it('batching changes nothing: each sample alone gives the same point (the reference loops per sample)', async () => {
    const n = 4;
    const xs = lin.xs.subarray(0, n * D);
    const ys = lin.ys.subarray(0, n);
    const batch = await runDefinition(sparsefoolAttack, lin.net, xs, ys, [28, 28, 1], { steps: 2 });
    for (let i = 0; i < n; i++) {
      const one = await runDefinition(sparsefoolAttack, lin.net, xs.subarray(i * D, (i + 1) * D), ys.subarray(i, i + 1), [28, 28, 1], { steps: 2 });
      expect(one.adv).toEqual(batch.adv.subarray(i * D, (i + 1) * D));
      expect(one.diagnostics!.deepfoolSteps[0]).toBe(batch.diagnostics!.deepfoolSteps[i]);
    }
  });

  it('leaves no tensor behind (every path: fooled at a check, by DeepFool, DeepFool capped, failures)', async () => {
    const x = tf.tensor4d(lin.xs, [N, 28, 28, 1]);
    const y = tf.tensor1d(lin.ys, 'int32');
    for (const options of [{ steps: 3 }, { steps: 2, deepfoolSteps: 1, lam: 1 }]) {
      const before = tf.memory().numTensors;
      const r = await sparsefoolAttack.run(new MeteredModel(lin.net), x, y, options);
      r.adversarials.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
    tf.dispose([x, y]);
  });

  it('one outer step: failures come back unchanged, queries still follow the formula', async () => {
    const r = await runDefinition(sparsefoolAttack, lin.net, lin.xs, lin.ys, [28, 28, 1], { steps: 1, lam: 1, deepfoolSteps: 1 });
    checkLinear(r);
    expect(r.diagnostics!.sparsefoolSteps).toEqual(new Array(N).fill(1));
    expect(r.diagnostics!.deepfoolSteps).toEqual(new Array(N).fill(1));
    expect(r.success.filter(Boolean).length).toBeLessThan(N); // some failures, returned as x
    expect(expectedQueries(r.diagnostics!, 10)).toEqual({ forwards: r.forwards, backwards: r.backwards });
  });
});

describe('sparsefool on the MNIST SmallCNN', () => {
  it('a few images: valid, failures unchanged, query formula', async () => {
    const net = await loadSmallCnn();
    const idx = [0, 1, 2];
    const test = loadDataset('mnist', 'test');
    const xs = gather(test.images, D, idx);
    const ys = Int32Array.from(idx, (i) => test.labels[i]);
    const r = await runDefinition(sparsefoolAttack, net, xs, ys, [28, 28, 1], { steps: 3 });
    for (const v of r.adv) expect(v >= 0 && v <= 1).toBe(true);
    r.success.forEach((s, i) => {
      if (!s) expect(r.l0[i]).toBe(0);
    });
    expect(r.success.filter(Boolean).length).toBeGreaterThanOrEqual(2);
    expect(expectedQueries(r.diagnostics!, 10)).toEqual({ forwards: r.forwards, backwards: r.backwards });
  });
});

describe('sparsefool options', () => {
  it('defaults follow the σ-zero wrapper and DeepFool', () => {
    expect(sparsefoolAttack.resolve({}, 20)).toEqual({ lam: 3, overshoot: 0.02, deepfoolSteps: 50 });
    expect(sparsefoolAttack.budgetUnit).toBeNull();
  });

  it.each([
    [{ lam: 0 }, 'lam'],
    [{ lam: -1 }, 'lam'],
    [{ overshoot: -0.1 }, 'overshoot'],
    [{ deepfoolSteps: 0 }, 'deepfoolSteps'],
    [{ deepfoolSteps: 2.5 }, 'deepfoolSteps'],
    [{ lam: Infinity }, 'lam'],
    [{ seed: 1 }, ''],
  ])('rejects %o naming %s', (options, field) => {
    let err: unknown;
    try {
      sparsefoolAttack.resolve(options, 10);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ZodError);
    const issues = (err as ZodError).issues;
    if (field) expect(issues.map((i) => i.path.join('.'))).toContain(field);
    else expect(issues.map((i) => i.code)).toContain('unrecognized_keys');
  });

  it('rejects a step budget of 0 and validates direct use', () => {
    expect(() => sparsefoolAttack.resolve({}, 0)).toThrow(ZodError);
    const net = toyModel();
    const x = tf.zeros([1, 2, 2, 1]) as tf.Tensor4D;
    const y = tf.tensor1d([0], 'int32');
    expect(() => sparsefool(new MeteredModel(net), x, y, { lam: -2 })).toThrow(ZodError);
    tf.dispose([x, y]);
    net.dispose();
  });
});
