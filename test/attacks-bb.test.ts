/**
 * bb-l0 and bb-l0-adv (spec §4.7) on the linear oracle (exact ℓ0 optimum known) and on a few MNIST
 * SmallCNN images: outputs inside [0,1], successes never sparser than the optimum, failures and
 * already-misclassified inputs unchanged, a sample without a start failing alone, the exact query
 * counts of the spec's cost line, determinism for a seed, option validation, no tensor leak.
 */
import type { Net } from '../agent/engine/net.ts';
import * as tf from '@tensorflow/tfjs';
import { ZodError } from 'zod';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../agent/engine/backend.ts';
import { MeteredModel } from '../agent/engine/metered-model.ts';
import type { AttackDefinition } from '../agent/attacks/define.ts';
import { bbL0AdvAttack, bbL0Attack } from '../agent/attacks/bb.ts';
import { loadDataset } from '../agent/data/registry.ts';
import { gather } from '../agent/data/select.ts';
import { runDefinition, type AttackRun } from './helpers/attack-run.ts';
import { trainLinear, type LinearSetup } from './helpers/linear-model.ts';
import { loadSmallCnn } from './helpers/zoo.ts';

const N = 8;
const SHAPE: [number, number, number] = [28, 28, 1];
let lin: LinearSetup;

beforeAll(async () => {
  await selectBackend('wasm');
  lin = trainLinear(N);
});

function checkValid(r: AttackRun, optimum: number[]) {
  for (const v of r.adv) expect(v >= 0 && v <= 1).toBe(true);
  r.success.forEach((s, i) => {
    if (s) expect(r.l0[i], `sample ${i} sparser than the exact optimum`).toBeGreaterThanOrEqual(optimum[i]);
    else expect(r.l0[i], `failed sample ${i} must come back unchanged`).toBe(0);
  });
}

/** Tensors left behind by one direct run (inputs, labels and output disposed). */
async function tensorsLeft(def: AttackDefinition, net: Net | tf.LayersModel, xs: Float32Array, ys: Int32Array, options: Record<string, unknown>): Promise<number> {
  const x = tf.tensor4d(xs, [ys.length, ...SHAPE]);
  const y = tf.tensor1d(ys, 'int32');
  const before = tf.memory().numTensors;
  const r = await def.run(new MeteredModel(net), x, y, options);
  r.adversarials.dispose();
  const left = tf.memory().numTensors - before;
  tf.dispose([x, y]);
  return left;
}

/** forwards the blended-noise init makes per sample: the draws of the longest-waiting sample + the ε grid points scanned */
function blendedInitForwards(diag: Record<string, number[]>, initSteps: number): number {
  const draws = Math.max(...diag.initDraws);
  const started = diag.initEpsilon.filter((_, i) => diag.initDraws[i] > 0 && diag.started[i] === 1);
  if (!started.length) return draws;
  const grid = started.some((e) => e === 1) ? initSteps + 1 : Math.max(...started.map((e) => Math.round(e * initSteps))) + 1;
  return draws + grid;
}

describe('bb-l0 on the linear oracle', () => {
  it('valid, mostly successful, exact query count, deterministic for a seed, no tensor leak', async () => {
    const steps = 20;
    const r = await runDefinition(bbL0Attack, lin.net, lin.xs, lin.ys, SHAPE, { steps, seed: 1 });
    expect(await tensorsLeft(bbL0Attack, lin.net, lin.xs, lin.ys, { steps: 2, seed: 1 })).toBe(0);
    checkValid(r, lin.optimum);
    expect(r.diagnostics!.started).toEqual(new Array(N).fill(1));
    expect(r.success.filter(Boolean).length).toBe(N); // every start is adversarial and best stays adversarial
    // init + 1F check + 10F bisection + steps·(1F + 1B), every sample of the batch in every query
    expect(r.forwards).toBe(N * (blendedInitForwards(r.diagnostics!, 1000) + 1 + 10 + steps));
    expect(r.backwards).toBe(N * steps);
    // the claimed ℓ0 (|Δ| > 1e−4) is what is returned (values are snapped to x0 exactly)
    expect(r.diagnostics!.claimedL0).toEqual(r.l0);
    const again = await runDefinition(bbL0Attack, lin.net, lin.xs, lin.ys, SHAPE, { steps, seed: 1 });
    expect(again.adv).toEqual(r.adv);
  });

  it('per-sample trust radius: a sample\'s result does not depend on the rest of the batch (the reference\'s B·d radius would)', async () => {
    // seeded noise fills the batch in order, so the first 4 samples draw the same noise in both runs
    const opts = { steps: 10, seed: 4 };
    const half = await runDefinition(bbL0Attack, lin.net, lin.xs.subarray(0, 4 * 784), lin.ys.subarray(0, 4), SHAPE, opts);
    const full = await runDefinition(bbL0Attack, lin.net, lin.xs, lin.ys, SHAPE, opts);
    expect(Array.from(full.adv.subarray(0, 4 * 784))).toEqual(Array.from(half.adv));
    expect(half.l0.some((v) => v > 0)).toBe(true);
  });

  it('more steps never end sparser-than-optimal and make the result sparser than the bisected start', async () => {
    const short = await runDefinition(bbL0Attack, lin.net, lin.xs, lin.ys, SHAPE, { steps: 1, seed: 2 });
    const long = await runDefinition(bbL0Attack, lin.net, lin.xs, lin.ys, SHAPE, { steps: 60, seed: 2 });
    checkValid(long, lin.optimum);
    const sum = (a: number[]) => a.reduce((s, v) => s + v, 0);
    expect(sum(long.l0)).toBeLessThan(sum(short.l0));
  });

  it('a sample without an adversarial noise draw fails alone (x returned), the others still succeed', async () => {
    const r = await runDefinition(bbL0Attack, lin.net, lin.xs, lin.ys, SHAPE, { steps: 5, initDirections: 1, seed: 0 });
    const started = r.diagnostics!.started;
    expect(started).toContain(0);
    expect(started).toContain(1);
    checkValid(r, lin.optimum);
    started.forEach((s, i) => expect(r.success[i]).toBe(s === 1));
    expect(r.forwards).toBe(N * (blendedInitForwards(r.diagnostics!, 1000) + 1 + 10 + 5));
  });
});

describe('bb-l0-adv (DTBB) on the linear oracle', () => {
  it('starts from a differently-predicted batch mate; valid; 2F + 10F + steps·(1F+1B); deterministic', async () => {
    const steps = 20;
    const r = await runDefinition(bbL0AdvAttack, lin.net, lin.xs, lin.ys, SHAPE, { steps, seed: 3 });
    expect(await tensorsLeft(bbL0AdvAttack, lin.net, lin.xs, lin.ys, { steps: 2, seed: 3 })).toBe(0);
    checkValid(r, lin.optimum);
    const src = r.diagnostics!.startSource;
    src.forEach((j, i) => {
      expect(j).not.toBe(i);
      expect(lin.ys[j]).not.toBe(lin.ys[i]); // the linear model classifies every chosen sample correctly
    });
    expect(r.success.filter(Boolean).length).toBe(N);
    expect(r.forwards).toBe(N * (1 + 1 + 10 + steps));
    expect(r.backwards).toBe(N * steps);
    const again = await runDefinition(bbL0AdvAttack, lin.net, lin.xs, lin.ys, SHAPE, { steps, seed: 3 });
    expect(again.adv).toEqual(r.adv);
  });

  it('a batch of one has no start: x comes back, nothing throws', async () => {
    const r = await runDefinition(bbL0AdvAttack, lin.net, lin.xs.subarray(0, 784), lin.ys.subarray(0, 1), SHAPE, { steps: 3 });
    expect(r.diagnostics!.started).toEqual([0]);
    expect(r.l0).toEqual([0]);
    expect(r.forwards).toBe(1 + 1 + 10 + 3);
  });

  it('options: strict schemas, invalid values named', () => {
    expect(() => bbL0Attack.resolve({ lr: -1 }, 10)).toThrow(ZodError);
    try {
      bbL0AdvAttack.resolve({ initDirections: 5 }, 10);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ZodError);
      expect(JSON.stringify((e as ZodError).issues)).toContain('initDirections');
    }
    try {
      bbL0Attack.resolve({ overshoot: 3 }, 10);
      expect.unreachable();
    } catch (e) {
      expect((e as ZodError).issues[0].path).toEqual(['overshoot']);
    }
    expect(bbL0Attack.resolve({}, 7)).toEqual({ lr: 1e-3, lrDecay: 0.5, lrNumDecay: 20, momentum: 0.8, overshoot: 1.1, binarySearchSteps: 10, seed: 0, initDirections: 1000, initSteps: 1000 });
  });
});

describe('bb-l0 / bb-l0-adv on MNIST SmallCNN', () => {
  it('a few images, few steps: valid, already-misclassified input unchanged, exact query counts', async () => {
    const net = await loadSmallCnn();
    const test = loadDataset('mnist', 'test');
    const idx = [0, 1, 2, 3];
    const xs = gather(test.images, 784, idx);
    const ys = Int32Array.from(idx, (i) => test.labels[i]);
    ys[3] = (ys[3] + 1) % 10; // sample 3 is "already misclassified" for this label
    const steps = 5;
    for (const def of [bbL0AdvAttack, bbL0Attack]) {
      const opts = { steps, seed: 0, ...(def === bbL0Attack ? { initSteps: 100 } : {}) };
      const r = await runDefinition(def, net, xs, ys, SHAPE, opts);
      expect(await tensorsLeft(def, net, xs, ys, opts)).toBe(0);
      for (const v of r.adv) expect(v >= 0 && v <= 1).toBe(true);
      expect(r.l0[3]).toBe(0);
      r.success.forEach((s, i) => {
        if (!s) expect(r.l0[i]).toBe(0);
        else if (i < 3) expect(r.l0[i]).toBeGreaterThan(0);
      });
      expect(r.success.slice(0, 3).every(Boolean)).toBe(true);
      const init = def === bbL0Attack ? blendedInitForwards(r.diagnostics!, 100) : 1;
      expect(r.forwards).toBe(4 * (init + 1 + 10 + steps));
      expect(r.backwards).toBe(4 * steps);
    }
  }, 60_000);
});
