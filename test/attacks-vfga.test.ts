/**
 * VFGA (spec §4.5) on the linear oracle (exact minimum ℓ0 known) and a few MNIST SmallCNN images:
 * outputs inside [0,1], successes never sparser than the optimum and at most one feature per
 * iteration, failures and already-misclassified inputs unchanged, the exact query count
 * (1F+1B + 2·nSamples F per iteration per active sample), determinism for a seed, chunking that
 * changes the memory peak and nothing else, θ = 0 stalls, option validation, no tensor leak.
 */
import * as tf from '@tensorflow/tfjs';
import { ZodError } from 'zod';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../agent/engine/backend.ts';
import { MeteredModel } from '../agent/engine/metered-model.ts';
import { memoryPeak } from '../agent/engine/memory.ts';
import { loadDataset } from '../agent/data/registry.ts';
import { gather } from '../agent/data/select.ts';
import { vfga, vfgaAttack } from '../agent/attacks/vfga.ts';
import { runDefinition, type AttackRun } from './helpers/attack-run.ts';
import { D, trainLinear, type LinearSetup } from './helpers/linear-model.ts';
import { loadSmallCnn } from './helpers/zoo.ts';

const N = 12;
const SHAPE: [number, number, number] = [28, 28, 1];
let lin: LinearSetup;

beforeAll(async () => {
  await selectBackend('wasm');
  lin = trainLinear(N);
});

const sum = (a: number[]) => a.reduce((p, q) => p + q, 0);

/** Every returned value in [0,1]; successes at least the optimum and at most one feature per iteration; failures unchanged. */
function checkValid(r: AttackRun, optimum: number[] | null) {
  for (const v of r.adv) expect(v >= 0 && v <= 1).toBe(true);
  const its = r.diagnostics!.iterations;
  r.success.forEach((s, i) => {
    if (!s) return expect(r.l0[i], `failed sample ${i} must come back unchanged`).toBe(0);
    if (optimum) expect(r.l0[i], `sample ${i} sparser than the exact optimum`).toBeGreaterThanOrEqual(optimum[i]);
    expect(r.l0[i], `sample ${i}: one feature per iteration at most`).toBeLessThanOrEqual(its[i]);
  });
}

/** Spec §4.5 cost: 1F+1B per iteration per active sample + 2·nSamples F for its candidates. */
function expectQueries(r: AttackRun, nSamples: number, alreadyMisclassified = 0) {
  const its = sum(r.diagnostics!.iterations);
  expect(r.forwards).toBe(its * (1 + 2 * nSamples) + alreadyMisclassified);
  expect(r.backwards).toBe(its + alreadyMisclassified);
}

describe('vfga on the linear oracle', () => {
  it('valid, never sparser than the optimum, mostly successful, exact queries', async () => {
    const r = await runDefinition(vfgaAttack, lin.net, lin.xs, lin.ys, SHAPE, { steps: 150, seed: 1 });
    checkValid(r, lin.optimum);
    expectQueries(r, 10);
    expect(r.success.filter(Boolean).length).toBeGreaterThanOrEqual(N - 1);
    // a success stops its sample; a failure ran every iteration
    r.success.forEach((s, i) => {
      if (!s) expect(r.diagnostics!.iterations[i]).toBe(150);
    });
  });

  it('one step: exactly N·(1 + 2n) forwards and N backwards; failures unchanged', async () => {
    const r = await runDefinition(vfgaAttack, lin.net, lin.xs, lin.ys, SHAPE, { steps: 1, nSamples: 3 });
    expect([r.forwards, r.backwards]).toEqual([N * 7, N]);
    expect(r.diagnostics!.iterations).toEqual(new Array(N).fill(1));
    checkValid(r, lin.optimum); // a success here has exactly one modified feature
  });

  it('already-misclassified inputs: returned unchanged at the cost of the first 1F+1B (deviation from the reference)', async () => {
    const ys = Int32Array.from(lin.ys);
    ys[0] = (ys[0] + 1) % 10;
    ys[5] = (ys[5] + 3) % 10;
    const r = await runDefinition(vfgaAttack, lin.net, lin.xs, ys, SHAPE, { steps: 5, nSamples: 4, seed: 2 });
    expect(r.diagnostics!.iterations[0]).toBe(0);
    expect(r.diagnostics!.iterations[5]).toBe(0);
    expect([r.l0[0], r.l0[5]]).toEqual([0, 0]);
    expectQueries(r, 4, 2);
    checkValid(r, null);
  });

  it('all misclassified: nothing attacked, 1F+1B each, inputs returned', async () => {
    const ys = Int32Array.from(lin.ys, (y) => (y + 1) % 10);
    const r = await runDefinition(vfgaAttack, lin.net, lin.xs, ys, SHAPE, { steps: 5 });
    expect([r.forwards, r.backwards]).toEqual([N, N]);
    expect(r.l0).toEqual(new Array(N).fill(0));
  });

  it('deterministic for a seed; another seed draws other candidates', async () => {
    const o = { steps: 20, nSamples: 5, seed: 7 };
    const a = await runDefinition(vfgaAttack, lin.net, lin.xs, lin.ys, SHAPE, o);
    const b = await runDefinition(vfgaAttack, lin.net, lin.xs, lin.ys, SHAPE, o);
    expect(b.adv).toEqual(a.adv);
    expect(b.diagnostics).toEqual(a.diagnostics);
    const c = await runDefinition(vfgaAttack, lin.net, lin.xs, lin.ys, SHAPE, { ...o, seed: 8 });
    expect(c.adv).not.toEqual(a.adv);
  });

  it('chunk changes the memory peak, not the result nor the queries', async () => {
    const o = { steps: 8, nSamples: 10, seed: 3 };
    const peakOf = async (chunk: number | null) => {
      memoryPeak.reset();
      const before = memoryPeak.read();
      const r = await runDefinition(vfgaAttack, lin.net, lin.xs, lin.ys, SHAPE, { ...o, chunk });
      return { r, peak: memoryPeak.read() - before };
    };
    const ref = await peakOf(null); // the reference's split: 2 candidates per active sample per forward
    const small = await peakOf(2);
    const all = await peakOf(2 * 10 * N); // the reference's large_memory mode: every candidate at once
    expect(small.r.adv).toEqual(ref.r.adv);
    expect(all.r.adv).toEqual(ref.r.adv);
    expect([small.r.forwards, small.r.backwards]).toEqual([ref.r.forwards, ref.r.backwards]);
    // the default (2N candidates per forward) stays at the peak of the batch's own per-iteration
    // work; holding all 20N candidates at once costs at least their 18N extra inputs on top
    expect(small.peak).toBeLessThanOrEqual(ref.peak);
    expect(all.peak - ref.peak).toBeGreaterThanOrEqual(18 * N * D * 4);
  });

  it('no tensor leak (direct use, with an already-misclassified input)', async () => {
    const x = tf.tensor4d(lin.xs, [N, ...SHAPE]);
    const ys = Int32Array.from(lin.ys);
    ys[3] = (ys[3] + 1) % 10;
    const y = tf.tensor1d(ys, 'int32');
    const m = new MeteredModel(lin.net);
    const warm = await vfga(m, x, y, { steps: 2 });
    warm.adversarials.dispose();
    const before = tf.memory().numTensors;
    const r = await vfga(m, x, y, { steps: 6, nSamples: 3, chunk: 5 });
    r.adversarials.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
  });
});

describe('vfga: θ = 0 stalls, as in the reference', () => {
  it('a feature at 1 chosen for the increase leaves the point unchanged and stays unmodified', async () => {
    // two features both at 1, logit_0 = 5 − x₁ − x₂, logit_1 = 0: increasing cannot move (θ⁺ = 0),
    // decreasing raises p_0, so the unchanged candidates win every iteration
    const net = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [1, 2, 1] }), tf.layers.dense({ units: 2 })] });
    net.layers[1].setWeights([tf.tensor2d([[-1, 0], [-1, 0]]), tf.tensor1d([5, 0])]);
    const r = await runDefinition(vfgaAttack, net, Float32Array.from([1, 1]), Int32Array.from([0]), [1, 2, 1], { steps: 7, nSamples: 2 });
    expect(r.diagnostics!.iterations).toEqual([7]);
    expect([r.forwards, r.backwards]).toEqual([7 * 5, 7]);
    expect(Array.from(r.adv)).toEqual([1, 1]);
    expect(r.success).toEqual([false]);
    net.dispose();
  });
});

describe('vfga options', () => {
  it('defaults: 10 samples, seed 0, the reference chunking; steps maps to max_iter', () => {
    expect(vfgaAttack.resolve({}, 1000)).toEqual({ nSamples: 10, seed: 0, chunk: null });
    expect(vfgaAttack.budgetOption).toBeNull();
  });

  it.each([
    [{ nSamples: 0 }, 'nSamples'],
    [{ nSamples: 2.5 }, 'nSamples'],
    [{ chunk: 0 }, 'chunk'],
    [{ seed: -1 }, 'seed'],
    [{ largeMemory: true }, 'largeMemory'],
  ])('%j is refused naming %s', (opts, name) => {
    let err: unknown;
    try {
      vfgaAttack.resolve(opts, 10);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ZodError);
    expect(JSON.stringify((err as ZodError).issues)).toContain(name);
  });

  it('steps must be a positive integer', () => {
    expect(() => vfgaAttack.resolve({}, 0)).toThrow(ZodError);
  });
});

describe('vfga on the MNIST SmallCNN', () => {
  it('valid outputs, mostly successful, exact queries', async () => {
    const net = await loadSmallCnn();
    const idx = [0, 1, 2, 3, 4, 5];
    const test = loadDataset('mnist', 'test');
    const xs = gather(test.images, D, idx);
    const ys = Int32Array.from(idx, (i) => test.labels[i]);
    const r = await runDefinition(vfgaAttack, net, xs, ys, SHAPE, { steps: 40, seed: 0 });
    checkValid(r, null);
    const clean = tf.tidy(() => Array.from(tf.argMax(net.apply(tf.tensor4d(xs, [idx.length, ...SHAPE])), 1).dataSync()));
    const mis = clean.filter((p, i) => p !== ys[i]).length;
    expectQueries(r, 10, mis);
    expect(r.success.filter(Boolean).length).toBeGreaterThanOrEqual(idx.length - 1);
  });
});
