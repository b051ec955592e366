/**
 * sparse-PGD (spec §4.9) on the linear oracle (exact minimum ℓ0 known) and on a few MNIST SmallCNN
 * images: outputs inside [0,1], ℓ0 ≤ k features, successes never sparser than the optimum,
 * failures and misclassified inputs unchanged; exact query counts (1F clean check of the batch,
 * then 1F+1B per active sample per gradient evaluation: 1 + the iterations it took part in);
 * the custom (unprojected) gradient against autograd; the mask re-initialisation after `patience`
 * unchanged iterations; determinism for a seed; option validation; no tensor leak; and
 * `spgd+search` built the way the registry builds it.
 */
import * as tf from '@tensorflow/tfjs';
import { ZodError } from 'zod';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../agent/engine/backend.ts';
import { MeteredModel } from '../agent/engine/metered-model.ts';
import { defineBudgetSearch } from '../agent/attacks/budget-search.ts';
import type { Attack } from '../agent/attacks/types.ts';
import { loadDataset } from '../agent/data/registry.ts';
import { gather } from '../agent/data/select.ts';
import { runSpgd, spgd, spgdAttack, spgdGradients, spgdOptionsSchema, topkMask } from '../agent/attacks/spgd.ts';
import { runDefinition, type AttackRun } from './helpers/attack-run.ts';
import { trainLinear, type LinearSetup } from './helpers/linear-model.ts';
import { loadSmallCnn } from './helpers/zoo.ts';

const N = 12;
const SHAPE: [number, number, number] = [28, 28, 1];
let lin: LinearSetup;

beforeAll(async () => {
  await selectBackend('wasm');
  lin = trainLinear(N);
});

/** Valid on the linear oracle: inside [0,1], ℓ0 ≤ k, successes never sparser than the optimum, failures unchanged. */
function checkValid(r: AttackRun, k: number, ys: Int32Array = lin.ys) {
  for (const v of r.adv) expect(v >= 0 && v <= 1).toBe(true);
  r.l0.forEach((l0, i) => {
    expect(l0).toBeLessThanOrEqual(k);
    if (ys[i] !== lin.ys[i]) expect(l0, `misclassified input ${i} must come back unchanged`).toBe(0);
    else if (r.success[i]) expect(l0, `sample ${i} sparser than the exact optimum`).toBeGreaterThanOrEqual(lin.optimum[i]);
    else expect(l0, `failed sample ${i} must come back unchanged`).toBe(0);
  });
}

/** Gradient evaluations per attacked sample: 1 at the start + the iterations it was active in. */
function evaluations(r: AttackRun, attacked: boolean[]): number {
  return r.diagnostics!.iterations.reduce((sum, it, i) => sum + (attacked[i] ? 1 + it : 0), 0);
}

describe('spgd on the linear oracle', () => {
  it('valid, within k features, exact queries; successes leave the active set', async () => {
    const r = await runDefinition(spgdAttack, lin.net, lin.xs, lin.ys, SHAPE, { steps: 30, k: 40, seed: 1 });
    checkValid(r, 40);
    const ok = r.success.filter(Boolean).length;
    expect(ok).toBeGreaterThanOrEqual(N / 2);
    const evals = evaluations(r, new Array(N).fill(true));
    expect(r.forwards).toBe(N + evals);
    expect(r.backwards).toBe(evals);
    r.diagnostics!.iterations.forEach((it, i) => (r.success[i] ? expect(it).toBeLessThanOrEqual(30) : expect(it).toBe(30)));
    expect(evals).toBeLessThan(N * 31); // successes stopped early
    expect(r.diagnostics!.featureBudget).toEqual(new Array(N).fill(40));
  });

  it('below every optimum nothing succeeds: all returned unchanged, n + n·(t+1) forwards; misclassified inputs not attacked', async () => {
    // the samples whose exact optimum is ≥ 4, with k = 3: no success is possible
    const idx = lin.optimum.map((_, i) => i).filter((i) => lin.optimum[i] >= 4);
    expect(idx.length).toBeGreaterThanOrEqual(6);
    const n = idx.length;
    const xs = gather(lin.xs, 784, idx);
    const truth = Int32Array.from(idx, (i) => lin.ys[i]);
    const ys = Int32Array.from(truth);
    ys[0] = (ys[0] + 1) % 10; // now misclassified
    ys[3] = (ys[3] + 3) % 10;
    const r = await runDefinition(spgdAttack, lin.net, xs, ys, SHAPE, { steps: 7, k: 3, seed: 2 });
    for (const v of r.adv) expect(v >= 0 && v <= 1).toBe(true);
    r.l0.forEach((l0) => expect(l0).toBe(0));
    expect(r.success).toEqual(Array.from(ys, (y, i) => y !== truth[i]));
    expect(r.forwards).toBe(n + (n - 2) * 8);
    expect(r.backwards).toBe((n - 2) * 8);
    expect(r.diagnostics!.iterations).toEqual(Array.from(ys, (y, i) => (y === truth[i] ? 7 : 0)));
    // best CE: the clean one for samples not attacked, never below it for the others
    const cleanCe = tf.tidy(() => {
      const logits = lin.net.predict(tf.tensor4d(xs, [n, ...SHAPE])) as tf.Tensor2D;
      return tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, tf.oneHot(tf.tensor1d(ys, 'int32'), 10)), 1));
    });
    const ce = Array.from(await cleanCe.data());
    cleanCe.dispose();
    r.diagnostics!.bestLoss.forEach((b, i) => (ys[i] === truth[i] ? expect(b).toBeGreaterThanOrEqual(ce[i] - 1e-5) : expect(b).toBeCloseTo(ce[i], 5)));
  });

  it('k = 0 attacks nothing (one clean forward)', async () => {
    const r = await runDefinition(spgdAttack, lin.net, lin.xs, lin.ys, SHAPE, { steps: 5, k: 0 });
    expect([r.forwards, r.backwards]).toEqual([N, 0]);
    r.l0.forEach((l0) => expect(l0).toBe(0));
  });

  it('deterministic for a seed, different for another seed; the projected gradient is another run', async () => {
    const a = await runDefinition(spgdAttack, lin.net, lin.xs, lin.ys, SHAPE, { steps: 20, k: 40, seed: 3 });
    const b = await runDefinition(spgdAttack, lin.net, lin.xs, lin.ys, SHAPE, { steps: 20, k: 40, seed: 3 });
    expect(b.adv).toEqual(a.adv);
    expect(b.forwards).toBe(a.forwards);
    const c = await runDefinition(spgdAttack, lin.net, lin.xs, lin.ys, SHAPE, { steps: 20, k: 40, seed: 4 });
    expect(c.adv).not.toEqual(a.adv);
    const p = await runDefinition(spgdAttack, lin.net, lin.xs, lin.ys, SHAPE, { steps: 20, k: 40, seed: 3, unprojectedGradient: false });
    checkValid(p, 40);
    expect(p.adv).not.toEqual(a.adv);
  });

  it('no tensor leak (direct use, with successes and failures)', async () => {
    const m = new MeteredModel(lin.net);
    const x = tf.tensor4d(lin.xs, [N, ...SHAPE]);
    const y = tf.tensor1d(lin.ys, 'int32');
    await spgd(m, x, y, { steps: 3, k: 30, seed: 5 }).then((r) => r.adversarials.dispose()); // warm-up (kernels, caches)
    const before = tf.memory().numTensors;
    const r = await spgd(m, x, y, { steps: 12, k: 30, seed: 5, patience: 1 });
    r.adversarials.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
  });
});

describe('spgd internals', () => {
  it('custom gradient: ∂p = g ⊙ σ(m) (or g ⊙ M), ∂m = g ⊙ p ⊙ σ′(m), as autograd of the unprojected masking', () => {
    const g = tf.tensor2d([[0.5, -2, 1.5, 0], [3, 0.25, -1, 2]]);
    const p = tf.tensor2d([[0.3, -0.7, 1, 0.2], [-0.1, 0.4, 0.9, -1]]);
    const m = tf.tensor2d([[0.2, -1.3, 2.5, 0], [1, -0.5, 0.7, -2]]);
    const mask = topkMask(m, 2);
    expect(mask.arraySync()).toEqual([[1, 0, 1, 0], [1, 0, 1, 0]]);
    const [wantP, wantM] = tf.grads((pp: tf.Tensor, mm: tf.Tensor) => tf.sum(tf.mul(g, tf.mul(pp, tf.sigmoid(mm)))))([p, m]);
    const un = spgdGradients(g, p, m, mask, true);
    expect(Array.from(un.gp.dataSync())).toEqual(Array.from(wantP.dataSync()).map((v) => expect.closeTo(v, 6)));
    expect(Array.from(un.gm.dataSync())).toEqual(Array.from(wantM.dataSync()).map((v) => expect.closeTo(v, 6)));
    const pr = spgdGradients(g, p, m, mask, false);
    expect(pr.gp.arraySync()).toEqual([[0.5, -0, 1.5, 0], [3, 0, -1, 0]]);
    expect(Array.from(pr.gm.dataSync())).toEqual(Array.from(wantM.dataSync()).map((v) => expect.closeTo(v, 6)));
    tf.dispose([g, p, m, mask, wantP, wantM, un.gp, un.gm, pr.gp, pr.gm]);
  });

  it('topkMask keeps exactly k entries (ties to the lower index)', () => {
    const m = tf.tensor2d([[1, 1, 1, 0, 1]]);
    const mask = topkMask(m, 2);
    expect(mask.arraySync()).toEqual([[1, 1, 0, 0, 0]]);
    tf.dispose([m, mask]);
  });

  it.each([
    [7, 3, 2],
    [7, 2, 3],
    [6, 1, 6],
  ])('a mask that never moves is redrawn every `patience` iterations (t = %i, patience = %i → %i)', async (steps, patience, resets) => {
    // logits independent of the input: zero gradient, the mask never moves, the sample is never fooled
    const net = tf.sequential({ layers: [tf.layers.flatten({ inputShape: SHAPE }), tf.layers.dense({ units: 10, kernelInitializer: 'zeros', biasInitializer: 'zeros' })] });
    net.layers[1].setWeights([tf.zeros([784, 10]), tf.tensor1d([5, 0, 0, 0, 0, 0, 0, 0, 0, 0])]);
    const ys = new Int32Array(2);
    const r = await runDefinition(spgdAttack, net, lin.xs.slice(0, 2 * 784), ys, SHAPE, { steps, k: 10, patience, seed: 1 });
    expect(r.diagnostics!.maskResets).toEqual([resets, resets]);
    expect(r.diagnostics!.iterations).toEqual([steps, steps]);
    expect([r.forwards, r.backwards]).toEqual([2 + 2 * (steps + 1), 2 * (steps + 1)]);
    r.l0.forEach((l0) => expect(l0).toBe(0));
    net.dispose();
  });
});

describe('spgd options', () => {
  it('defaults: the σ-zero wrapper’s (ε 1, k 20, α β 0.25, patience 3, unprojected, random start)', () => {
    expect(spgdAttack.resolve({}, 50)).toEqual({ k: 20, epsilon: 1, alpha: 0.25, beta: 0.25, patience: 3, unprojectedGradient: true, randomStart: true, seed: 0 });
    expect(spgdAttack.budget(spgdAttack.resolve({ k: 7 }, 50))).toEqual({ value: 7, unit: 'feature' });
    expect(spgdAttack.budgetOption).toBe('k');
    expect(spgdAttack.budgetUnit).toBe('feature');
  });

  it.each([
    [{ k: -1 }, 10, 'k'],
    [{ k: 2.5 }, 10, 'k'],
    [{ epsilon: 0 }, 10, 'epsilon'],
    [{ alpha: -0.1 }, 10, 'alpha'],
    [{ beta: 0 }, 10, 'beta'],
    [{ patience: 0 }, 10, 'patience'],
    [{ unprojectedGradient: 'yes' }, 10, 'unprojectedGradient'],
    [{ seed: -3 }, 10, 'seed'],
    [{ epsilon: Infinity }, 10, 'epsilon'],
    [{}, 0, 'steps'],
  ])('rejects %j (steps %i), naming %s', (user, steps, field) => {
    let err: unknown;
    try {
      spgdAttack.resolve(user, steps);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ZodError);
    expect((err as ZodError).issues.map((i) => i.path.join('.'))).toEqual([field]);
  });

  it('rejects an unknown option', () => {
    expect(() => spgdAttack.resolve({ restarts: 2 }, 10)).toThrow(/restarts/);
  });
});

describe('spgd+search (the registry’s definition)', () => {
  const search = defineBudgetSearch({
    name: 'spgd+search',
    description: 'sPGD inside the sample-wise binary search over k',
    inner: { options: spgdOptionsSchema, run: runSpgd },
    unit: 'feature',
  });

  it('options: k is the search’s (rejected), the rest is sPGD’s', () => {
    expect(search.resolve({ seed: 2 }, 100)).toEqual({ epsilon: 1, alpha: 0.25, beta: 0.25, patience: 3, unprojectedGradient: true, randomStart: true, seed: 2, k0: 100, searchSteps: 10 });
    expect(() => search.resolve({ k: 20 }, 100)).toThrow(ZodError);
  });

  it('valid on the linear oracle; every inner query and check counted exactly; no tensor leak', async () => {
    // the same search around a counting copy of runSpgd: an attacked sample ran 1 + iterations
    // gradient evaluations (iterations ≥ 1 when attacked, 0 when not)
    const calls: { n: number; evals: number }[] = [];
    const counted: Attack<never> = async (model, inputs, labels, o) => {
      const r = await runSpgd(model, inputs, labels, o);
      calls.push({ n: inputs.shape[0], evals: r.diagnostics!.iterations.reduce((s, it) => s + (it > 0 ? 1 + it : 0), 0) });
      return r;
    };
    const recorded = defineBudgetSearch({ name: 'spgd+search', description: '', inner: { options: spgdOptionsSchema, run: counted }, unit: 'feature' });
    const r = await runDefinition(recorded, lin.net, lin.xs, lin.ys, SHAPE, { steps: 50, seed: 1 });
    checkValid(r, 784);
    expect(r.success.filter(Boolean).length).toBeGreaterThanOrEqual(N - 1);
    // every sample of the linear set is correctly classified, so every attacked sample ran ≥ 1 iteration
    const inner = calls.reduce((s, c) => s + c.n + c.evals, 0);
    expect(r.forwards).toBe(N + 10 * N + inner);
    expect(r.backwards).toBe(calls.reduce((s, c) => s + c.evals, 0));
    expect(calls.length).toBeGreaterThanOrEqual(10);

    // the registry's definition itself: the same result and counts, and no tensor left behind
    const m = new MeteredModel(lin.net);
    const x = tf.tensor4d(lin.xs, [N, ...SHAPE]);
    const y = tf.tensor1d(lin.ys, 'int32');
    const before = tf.memory().numTensors;
    const plain = await search.run(m, x, y, { steps: 50, seed: 1 });
    expect(Array.from(await plain.adversarials.data())).toEqual(Array.from(r.adv));
    plain.adversarials.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect([m.forwards, m.backwards]).toEqual([r.forwards, r.backwards]);
    tf.dispose([x, y]);
  });
});

describe('spgd on the MNIST SmallCNN', () => {
  it('a few images (k = 10): inside [0,1], ℓ0 ≤ k, failures unchanged, exact queries', async () => {
    const net = await loadSmallCnn();
    const IDX = [0, 1, 2, 3];
    const test = loadDataset('mnist', 'test');
    const xs = gather(test.images, 784, IDX);
    const ys = Int32Array.from(IDX, (i) => test.labels[i]);
    const cleanPred = Array.from(tf.tidy(() => tf.argMax(net.apply(tf.tensor4d(xs, [IDX.length, ...SHAPE])), 1)).dataSync());
    const attacked = cleanPred.map((p, i) => p === ys[i]);
    const r = await runDefinition(spgdAttack, net, xs, ys, SHAPE, { steps: 20, k: 10, seed: 0 });
    for (const v of r.adv) expect(v >= 0 && v <= 1).toBe(true);
    r.l0.forEach((l0, i) => {
      expect(l0).toBeLessThanOrEqual(10);
      if (!r.success[i] || !attacked[i]) expect(l0).toBe(0);
    });
    const evals = evaluations(r, attacked);
    expect(r.forwards).toBe(IDX.length + evals);
    expect(r.backwards).toBe(evals);
    r.diagnostics!.iterations.forEach((it, i) => {
      if (attacked[i] && !r.success[i]) expect(it).toBe(20);
    });
    // k = 10 features, 20 iterations fool most of these images, not all (seed 0: 3 of 4)
    expect(r.success.filter(Boolean).length).toBeGreaterThanOrEqual(2);
  });
});
