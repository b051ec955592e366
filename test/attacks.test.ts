/**
 * The baseline attacks (spec §3, §4.1–§4.4) on the linear oracle (exact minimum ℓ0 known):
 * outputs inside [0,1]; every success re-checked by a fresh forward and never sparser than the
 * exact optimum (ℓ0 counted on what is returned); query counts equal to each attack's formula;
 * determinism for a fixed seed; and the budget search's k sequence of the spec's trace examples.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../agent/engine/backend.ts';
import { MeteredModel } from '../agent/engine/metered-model.ts';
import { getAttack } from '../agent/attacks/registry.ts';
import { budgetSearch, nextBudget } from '../agent/attacks/budget-search.ts';
import type { Attack, Classifier } from '../agent/attacks/types.ts';
import { D, l0Of, trainLinear, type LinearSetup } from './helpers/linear-model.ts';

const N = 16;
let lin: LinearSetup;

beforeAll(async () => {
  await selectBackend('wasm');
  lin = trainLinear(N);
});

async function runAttack(name: string, options: Record<string, unknown>) {
  const e = getAttack(name);
  const m = new MeteredModel(lin.net);
  const x = tf.tensor4d(lin.xs, [N, 28, 28, 1]);
  const y = tf.tensor1d(lin.ys, 'int32');
  const r = await e.run(m, x, y, e.options.parse({ ...e.preset, ...options }) as Record<string, unknown>);
  const adv = Float32Array.from(await r.adversarials.data());
  const pred = Array.from(tf.tidy(() => tf.argMax(lin.net.predict(r.adversarials) as tf.Tensor, 1)).dataSync());
  tf.dispose([x, y, r.adversarials]);
  const l0 = Array.from({ length: N }, (_, i) => l0Of(adv, lin.xs, i));
  const success = pred.map((p, i) => p !== lin.ys[i]);
  return { adv, pred, l0, success, forwards: m.forwards, backwards: m.backwards, diagnostics: r.diagnostics };
}

function checkValid(r: Awaited<ReturnType<typeof runAttack>>) {
  for (const v of r.adv) expect(v >= 0 && v <= 1).toBe(true);
  r.success.forEach((s, i) => {
    if (s) expect(r.l0[i], `sample ${i} sparser than the exact optimum`).toBeGreaterThanOrEqual(lin.optimum[i]);
    else expect(r.l0[i], `failed sample ${i} must come back unchanged`).toBe(0);
  });
}

describe('baseline attacks on the linear oracle', () => {
  it('fmn-l0: valid, mostly successful, 1F+1B per step', async () => {
    const r = await runAttack('fmn-l0', { steps: 100 });
    checkValid(r);
    expect(r.forwards).toBe(100 * N);
    expect(r.backwards).toBe(100 * N);
    expect(r.success.filter(Boolean).length).toBeGreaterThanOrEqual(N - 2);
  });

  it('pgd-l0 (k = 20 pixels): valid, within budget, 1F + (N−1)(1F+1B), deterministic', async () => {
    const r = await runAttack('pgd-l0', { steps: 30, k: 20, seed: 3 });
    checkValid(r);
    r.l0.forEach((v) => expect(v).toBeLessThanOrEqual(20)); // MNIST: one channel, pixels = features
    expect(r.forwards).toBe(N + 29 * N);
    expect(r.backwards).toBe(29 * N);
    const again = await runAttack('pgd-l0', { steps: 30, k: 20, seed: 3 });
    expect(again.adv).toEqual(r.adv);
  });

  it('sparse-rs (k = 20 features): valid, within budget, forwards only, deterministic', async () => {
    const r = await runAttack('sparse-rs', { steps: 200, k: 20, seed: 0 });
    checkValid(r);
    r.l0.forEach((v) => expect(v).toBeLessThanOrEqual(20));
    expect(r.backwards).toBe(0);
    expect(r.forwards).toBeGreaterThan(N);
    expect(r.forwards).toBeLessThanOrEqual(N + N * (200 + 1));
    expect(r.success.filter(Boolean).length).toBeGreaterThan(N / 2);
    const again = await runAttack('sparse-rs', { steps: 200, k: 20, seed: 0 });
    expect(again.adv).toEqual(r.adv);
  });

  it('ead: valid, failures return x (never an all-zero image), 2F + 1B per iteration', async () => {
    const r = await runAttack('ead', { steps: 50 });
    checkValid(r);
    // every iteration is 1F+1B plus 1F for the adversarial check, except the ones that end in an
    // early abort (at most one per binary-search step), which skip the check
    expect(r.backwards % N).toBe(0);
    const skipped = 2 * r.backwards - r.forwards;
    expect(skipped % N).toBe(0);
    expect(skipped / N).toBeLessThanOrEqual(9);
    expect(r.backwards).toBeLessThanOrEqual(9 * 50 * N);
    expect(r.success.filter(Boolean).length).toBeGreaterThanOrEqual(N - 2);
  });

  it.each(['pgd-l0+search', 'sparse-rs+search'])('%s: minimum-norm wrapper is valid and counts every call', async (name) => {
    const r = await runAttack(name, { steps: 100 });
    checkValid(r);
    expect(r.success.filter(Boolean).length).toBeGreaterThanOrEqual(N - 2);
    // clean forward + one check per search step, on top of the inner calls
    expect(r.forwards).toBeGreaterThanOrEqual(N * 11);
    if (name.startsWith('sparse-rs')) expect(r.backwards).toBe(0);
  });
});

describe('budget search', () => {
  it('next-k rule', () => {
    expect(nextBudget(0, 1000, false)).toBe(0); // doubling 0: only reached when k0 = 0
    expect(nextBudget(100, 1000, false)).toBe(200);
    expect(nextBudget(800, 1000, false)).toBe(900);
    expect(nextBudget(0, 100, true)).toBe(50);
  });

  /** a model whose verdict depends only on how many features changed: fooled iff ≥ threshold */
  function thresholdSetup(threshold: number, d: number) {
    const fake: Attack<{ k: number; steps: number }> = async (_m, inputs, _labels, o) => {
      // change min(k, d) features from 0 to 1
      return { adversarials: tf.tidy(() => tf.add(inputs, tf.concat([tf.ones([inputs.shape[0], Math.min(o.k, d)]), tf.zeros([inputs.shape[0], d - Math.min(o.k, d)])], 1).reshape(inputs.shape)) as tf.Tensor4D) };
    };
    const model: Classifier = {
      inputShape: [1, d, 1],
      numClasses: 2,
      forward: (x) => tf.tidy(() => {
        const changed = tf.sum(x.reshape([x.shape[0], d]), 1, true);
        return tf.concat([tf.sub(threshold - 0.5, changed), tf.sub(changed, threshold - 0.5)], 1) as tf.Tensor2D;
      }),
      valueAndGrad: () => {
        throw new Error('not used');
      },
      backwardAt: () => {
        throw new Error('not used');
      },
    };
    return { fake, model };
  }

  /** the budgets the search asks for, on a one-sample input of d features fooled from `threshold` changes on */
  async function searchTrace(threshold: number, d: number): Promise<number[]> {
    const { fake, model } = thresholdSetup(threshold, d);
    const seen: number[] = [];
    await budgetSearch(model, tf.zeros([1, 1, d, 1]) as tf.Tensor4D, tf.tensor1d([0], 'int32'), {
      attack: fake,
      options: {},
      innerSteps: 10,
      maxBudget: d,
      onStep: (ks) => seen.push(ks[0]),
    });
    return seen;
  }

  it.each([
    [5000, [100, 200, 400, 800, 900, 950, 975, 987, 993, 996]], // never fooled (capped at 1000)
    [1, [100, 50, 25, 12, 6, 3, 1, 0, 0, 0]], // always fooled while k ≥ 1
  ])('visits the spec trace when the threshold is %i', async (threshold, expected) => {
    expect(await searchTrace(threshold, 2048)).toEqual(expected);
  });

  it('never asks for more than the input has (MNIST-sized input, never fooled)', async () => {
    const seen = await searchTrace(10_000, D);
    expect(Math.max(...seen)).toBeLessThanOrEqual(D);
    expect(seen.slice(0, 3)).toEqual([100, 200, 400]);
  });

  it('finds the exact threshold by bisection', async () => {
    const { fake, model } = thresholdSetup(37, 2048);
    const r = await budgetSearch(model, tf.zeros([1, 1, 2048, 1]) as tf.Tensor4D, tf.tensor1d([0], 'int32'), {
      attack: fake,
      options: {},
      innerSteps: 10,
      maxBudget: 2048,
      searchSteps: 12,
    });
    expect(r.diagnostics!.bestBudget[0]).toBe(37);
  });
});
