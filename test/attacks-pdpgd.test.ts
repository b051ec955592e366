/**
 * PDPGD-ℓ0 (spec §4.6): the proximal operators against brute-force minimisation; the whole
 * iteration order against an independent float64 re-statement on a tiny linear model (pixels of
 * 2 channels, so the pixel grouping counts); the linear MNIST oracle (valid outputs, successes never
 * sparser than the exact optimum, failures and already-misclassified inputs returned as x, exactly
 * 1F+1B per step); determinism; a few MNIST SmallCNN images; option validation; no tensor leak.
 */
import * as tf from '@tensorflow/tfjs';
import { ZodError } from 'zod';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../agent/engine/backend.ts';
import { MeteredModel } from '../agent/engine/metered-model.ts';
import { dualStep, l0Prox, l23Prox, pdpgdL0, pdpgdL0Attack, pdpgdOptionsSchema } from '../agent/attacks/pdpgd.ts';
import { mulberry32 } from '../agent/attacks/rng.ts';
import type { Classifier, LossFn } from '../agent/attacks/types.ts';
import { loadDataset } from '../agent/data/registry.ts';
import { gather } from '../agent/data/select.ts';
import { runDefinition } from './helpers/attack-run.ts';
import { trainLinear, type LinearSetup } from './helpers/linear-model.ts';
import { loadSmallCnn } from './helpers/zoo.ts';

const N = 12;
let lin: LinearSetup;

beforeAll(async () => {
  await selectBackend('wasm');
  lin = trainLinear(N);
});

// ---------------------------------------------------------------------------------------------
// proximal operators

/** ½(z − v)² + μ|z|^{2/3} */
const f23 = (z: number, v: number, mu: number) => 0.5 * (z - v) ** 2 + mu * Math.cbrt(z * z);

/** adv_lib's closed form for the larger stationary point (Cardano, cube root of the difference), float64; NaN if none */
function stationary23(v: number, mu: number): number {
  const a = Math.sqrt(v ** 4 / 256 - (8 / 729) * mu ** 3);
  const b = 2 * (Math.cbrt((v * v) / 16 + a) + Math.cbrt((v * v) / 16 - a));
  const t = (Math.sqrt(b) + Math.sqrt((2 * Math.abs(v)) / Math.sqrt(b) - b)) / 2;
  return Math.sign(v) * t ** 3;
}

/** brute force: the grid point of [−|v|−0.5, |v|+0.5] (step 1e−5, plus 0) with the lowest objective */
function bruteForce23(v: number, mu: number): { z: number; f: number } {
  let best = { z: 0, f: f23(0, v, mu) };
  const lo = -Math.abs(v) - 0.5;
  const n = Math.round((2 * Math.abs(v) + 1) / 1e-5);
  for (let k = 0; k <= n; k++) {
    const z = lo + k * 1e-5;
    const fz = f23(z, v, mu);
    if (fz < best.f) best = { z, f: fz };
  }
  return best;
}

function prox23(vs: number[], mu: number): number[] {
  return tf.tidy(() => Array.from(l23Prox(tf.tensor2d(vs, [1, vs.length]), tf.tensor1d([mu])).dataSync()));
}

describe('proximal operators', () => {
  const T = (mu: number) => (4 / 3) * 1.5 ** 0.25 * mu ** 0.75; // the global-minimiser threshold

  it.each([0.01, 0.1, 0.5])('ℓ2/3 prox = brute-force 1-D minimiser (μ = %f)', (mu) => {
    const vs = [-1.7, -1, -0.6, -0.3, -0.1, 0, 0.05, 0.2, 0.45, 0.8, 1.3, 2].map((s) => s * (mu <= 0.01 ? 0.5 : 1));
    vs.push(0.9 * T(mu), 1.1 * T(mu), -1.2 * T(mu), 1.38 * mu ** 0.75, 3 * T(mu));
    const z = prox23(vs, mu);
    vs.forEach((v, k) => {
      const bf = bruteForce23(v, mu);
      // objective within float32 rounding and the grid's resolution of the minimum
      expect(f23(z[k], v, mu), `v=${v}`).toBeLessThanOrEqual(bf.f + 1e-6);
      // and the minimiser itself, away from the threshold where two minima tie
      if (Math.abs(Math.abs(v) - T(mu)) > 0.02 * T(mu)) expect(Math.abs(z[k] - bf.z), `v=${v}`).toBeLessThan(2e-4);
    });
  });

  it('ℓ2/3 prox zeroes the band where a stationary point exists but 0 is better (adv_lib keeps it)', () => {
    const mu = 0.2;
    // 1.2946 μ^¾ ≤ |v| < 1.4756 μ^¾: adv_lib's closed form returns its local stationary point there
    const v = 1.38 * mu ** 0.75;
    const zs = stationary23(v, mu);
    expect(zs).toBeGreaterThan(0);
    expect(Math.abs(zs - v + (2 / 3) * mu * Math.cbrt(zs) ** -1)).toBeLessThan(1e-9); // it is stationary
    expect(f23(zs, v, mu)).toBeGreaterThan(f23(0, v, mu)); // but 0 is lower
    expect(bruteForce23(v, mu).z).toBe(0);
    expect(prox23([v, -v], mu)).toEqual([0, 0]);
    expect(prox23([1.0001 * T(mu)], mu)[0]).toBeCloseTo(stationary23(1.0001 * T(mu), mu), 5); // above T: z*
  });

  it('ℓ2/3 prox: no NaN for huge μ (μ³ overflows float32) or μ → 0 (identity)', () => {
    expect(prox23([0.9, -1, 0], 1e14)).toEqual([0, 0, 0]);
    const z = prox23([0.9, -0.25], 1e-12);
    expect(z[0]).toBeCloseTo(0.9, 5);
    expect(z[1]).toBeCloseTo(-0.25, 5);
  });

  it('ℓ0 prox, one channel: keeps v iff v² ≥ 2μ (= brute-force argmin of ½(z−v)² + μ[z≠0])', () => {
    const mu = 0.02; // √(2μ) = 0.2
    const vs = [0.25, -0.25, 0.19, -0.19, 0.2, 0.5, 0, -0.9];
    const z = tf.tidy(() => Array.from(l0Prox(tf.tensor3d(vs, [1, vs.length, 1]), tf.tensor1d([mu])).dataSync()));
    vs.forEach((v, k) => {
      const keepCost = 0 + mu;
      const dropCost = 0.5 * v * v;
      const expected = Math.fround(v) === 0 ? 0 : dropCost >= keepCost - 1e-9 ? v : 0;
      expect(z[k]).toBeCloseTo(expected, 7);
    });
    expect(z.map((t) => t !== 0)).toEqual([true, true, false, false, true, true, false, true]);
  });

  it('ℓ0 prox, three channels: whole pixel kept iff its max channel |v| ≥ √(2μ) (amax, not the ℓ2 norm)', () => {
    const mu = 0.02;
    const v = [
      [0.21, 0.01, -0.02], // max ≥ 0.2: all three channels kept
      [0.15, 0.15, -0.15], // ‖·‖₂ = 0.26 ≥ 0.2 but max < 0.2: zeroed
      [-0.3, 0, 0.05],
      [0.1, 0.1, 0.1],
    ];
    const z = tf.tidy(() => l0Prox(tf.tensor3d([v], [1, 4, 3]), tf.tensor1d([mu])).arraySync()[0]);
    expect(z[0].map((t) => Math.fround(t))).toEqual(v[0].map(Math.fround));
    expect(z[1].every((t) => t === 0)).toBe(true);
    expect(z[2].map((t) => Math.fround(t))).toEqual(v[2].map(Math.fround));
    expect(z[3].every((t) => t === 0)).toBe(true);
  });

  it('dual step θ_i: linear from dualLr to dualLr·dualLrDecrease; N = 1 uses the final value', () => {
    const o = { dualLr: 0.1, dualLrDecrease: 0.1 };
    expect(dualStep(o, 0, 11)).toBeCloseTo(0.1, 12);
    expect(dualStep(o, 5, 11)).toBeCloseTo(0.1 * (0.5 * 0.9 + 0.1), 12);
    expect(dualStep(o, 10, 11)).toBeCloseTo(0.01, 12);
    expect(dualStep(o, 0, 1)).toBeCloseTo(0.01, 12);
  });
});

// ---------------------------------------------------------------------------------------------
// iteration order against a float64 re-statement of spec §4.6

interface TinyModel {
  d: number;
  K: number;
  Wm: number[]; // d × K, row-major
  b: number[];
}

/** f(x) = flatten(x)·W + b as a Classifier (counts its own calls) */
function tinyClassifier(t: TinyModel, shape: [number, number, number]): Classifier & { f: number; g: number } {
  const W = tf.tensor2d(t.Wm, [t.d, t.K]);
  const bias = tf.tensor1d(t.b);
  const logitsOf = (z: tf.Tensor) => tf.add(tf.matMul(z.reshape([z.shape[0], t.d]), W), bias) as tf.Tensor2D;
  const c = {
    f: 0,
    g: 0,
    inputShape: shape,
    numClasses: t.K,
    forward(x: tf.Tensor4D) {
      c.f += x.shape[0];
      return logitsOf(x);
    },
    valueAndGrad(x: tf.Tensor4D, delta: tf.Tensor4D, loss: LossFn) {
      c.f += x.shape[0];
      c.g += x.shape[0];
      let logits: tf.Tensor2D | null = null;
      const grad = tf.grad((d: tf.Tensor) => {
        const lg = logitsOf(tf.add(x, d));
        logits = tf.keep(lg);
        return loss(lg, d as tf.Tensor4D);
      })(delta) as tf.Tensor4D;
      return { logits: logits!, grad };
    },
    backwardAt(): tf.Tensor4D {
      throw new Error('PDPGD makes exactly one forward+backward per step: backwardAt is never called');
    },
  };
  return c;
}

interface RefOptions {
  steps: number;
  prox: 'l0' | 'l23';
  dualEma: number;
  dualMinRatio: number;
}

/** The ℓ2/3 prox in float64: adv_lib's stationary point, kept only from the threshold T on. */
function refProx23(v: number, mu: number): number {
  const T = (4 / 3) * 1.5 ** 0.25 * mu ** 0.75;
  return v === 0 || Math.abs(v) < T ? 0 : stationary23(v, mu);
}

/** spec §4.6 for one sample, in float64, written from the spec's numbered list */
function refPdpgd(t: TinyModel, x: number[], y: number, C: number, o: RefOptions) {
  const { d, K, Wm, b } = t;
  const box = (r: number[]) => r.map((ri, j) => Math.min(Math.max(x[j] + ri, 0), 1) - x[j]);
  const norm = (a: number[]) => Math.sqrt(a.reduce((s, q) => s + q * q, 0));
  let r = new Array<number>(d).fill(0);
  const m = new Array<number>(d).fill(0);
  const v = new Array<number>(d).fill(0);
  let lam1 = -Math.log(0.01);
  const soft = (l: number) => [1 / (1 + Math.exp(l)), Math.exp(l) / (1 + Math.exp(l))];
  let ema = soft(lam1);
  let bestDist = Infinity;
  let best = x.slice();
  for (let i = 0; i < o.steps; i++) {
    // 1. evaluate
    const logits = Array.from({ length: K }, (_, k) => b[k] + x.reduce((s, xj, j) => s + (xj + r[j]) * Wm[j * K + k], 0));
    let jOther = -1;
    for (let k = 0; k < K; k++) if (k !== y && (jOther < 0 || logits[k] > logits[jOther])) jOther = k;
    const margin = logits[y] - logits[jOther];
    const dist = r.filter((ri, j) => x[j] + ri - x[j] !== 0).length;
    if (margin < 0 && dist < bestDist) {
      bestDist = dist;
      best = x.map((xj, j) => xj + r[j]);
    }
    // 2. gradient of softplus(max(m, 0)), Adam, box
    const sig = margin >= 0 ? 1 / (1 + Math.exp(-margin)) : 0;
    const g = Array.from({ length: d }, (_, j) => sig * (Wm[j * K + y] - Wm[j * K + jOther]));
    const s = 0.1 * 0.01 ** (i / o.steps);
    const bc1 = 1 - 0.9 ** (i + 1);
    const bc2 = 1 - 0.999 ** (i + 1);
    const D = new Array<number>(d);
    for (let j = 0; j < d; j++) {
      m[j] = 0.9 * m[j] + 0.1 * g[j];
      v[j] = 0.999 * v[j] + 0.001 * g[j] * g[j];
      D[j] = Math.sqrt(v[j]) / Math.sqrt(bc2) + 1e-8;
      r[j] -= ((s / bc1) * m[j]) / D[j];
    }
    r = box(r);
    // 3. proximal Adam
    const psi = Math.max(...D);
    const mu = (ema[0] / ema[1]) * (s / psi);
    let z = r.slice();
    let e = 1;
    for (let k = 0; k < 5; k++) {
      const zin = z.map((zj, j) => zj + (D[j] / psi) * (r[j] - zj));
      let pz: number[];
      if (o.prox === 'l23') pz = zin.map((q) => refProx23(q, mu));
      else {
        pz = zin.slice();
        for (let p = 0; p < d / C; p++) {
          const mx = Math.max(...zin.slice(p * C, p * C + C).map(Math.abs));
          if (mx < Math.sqrt(2 * mu)) for (let c = 0; c < C; c++) pz[p * C + c] = 0;
        }
      }
      const znew = box(pz);
      const z2 = e > 1e-2 ? znew : z;
      e = norm(z2.map((q, j) => q - z[j])) / norm(z2);
      z = z2;
      if (e < 1e-2) break;
    }
    r = z;
    // 4. dual
    const theta = 0.1 * (((o.steps - 1 - i) / (o.steps - 1)) * 0.9 + 0.1);
    lam1 = Math.min(Math.max(lam1 + theta * Math.sign(margin), Math.log(o.dualMinRatio)), -Math.log(o.dualMinRatio));
    const sm = soft(lam1);
    ema = [o.dualEma * ema[0] + (1 - o.dualEma) * sm[0], o.dualEma * ema[1] + (1 - o.dualEma) * sm[1]];
  }
  return { best, bestDist };
}

describe('iteration order (float64 re-statement of §4.6, tiny linear model, 2-channel pixels)', () => {
  const shape: [number, number, number] = [3, 4, 2];
  const d = 24;
  const K = 3;
  const B = 4;
  const rand = mulberry32(7);
  const scale = 0.05; // small gradients → large μ = (λ̄0/λ̄1)·s/ψ: the prox bites
  const t: TinyModel = { d, K, Wm: Array.from({ length: d * K }, (_, q) => scale * (rand() * 2 - 1) * (Math.floor(q / K) % 5 === 0 ? 6 : 1)), b: [0.1, 0, -0.05] };
  const xs = Array.from({ length: B * d }, () => 0.1 + 0.8 * rand());
  // labels: the predicted class, so every sample starts correctly classified
  const ys = Array.from({ length: B }, (_, i) => {
    const lg = Array.from({ length: K }, (_, k) => t.b[k] + xs.slice(i * d, i * d + d).reduce((s, xj, j) => s + xj * t.Wm[j * K + k], 0));
    return lg.indexOf(Math.max(...lg));
  });

  it.each([
    ['l0', 0.9, 1e-6],
    ['l23', 0.9, 1e-6],
    ['l0', 0, 1e-6],
    ['l0', 0.9, 0.05], // λ1 clipped to [−3.0, 3.0] from the first step
  ] as const)('prox %s, dualEma %f, dualMinRatio %f: same claimed ℓ0 and adversarials as the re-statement, 1F+1B per step', async (prox, dualEma, dualMinRatio) => {
    const steps = 120; // long enough for the dual to raise μ until the prox removes pixels
    const model = tinyClassifier(t, shape);
    const x = tf.tensor4d(xs, [B, ...shape]);
    const y = tf.tensor1d(ys, 'int32');
    const r = await pdpgdL0(model, x, y, { steps, proximalOperator: prox, dualEma, dualMinRatio });
    const adv = Array.from(await r.adversarials.data());
    tf.dispose([x, y, r.adversarials]);
    expect([model.f, model.g]).toEqual([steps * B, steps * B]);
    const claimed = r.diagnostics!.claimedL0;
    let found = 0;
    for (let i = 0; i < B; i++) {
      const ref = refPdpgd(t, xs.slice(i * d, i * d + d), ys[i], 2, { steps, prox, dualEma, dualMinRatio });
      expect(claimed[i], `sample ${i}`).toBe(Number.isFinite(ref.bestDist) ? ref.bestDist : -1);
      ref.best.forEach((q, j) => expect(Math.abs(adv[i * d + j] - q), `sample ${i} feature ${j}`).toBeLessThan(1e-4));
      if (Number.isFinite(ref.bestDist)) found++;
    }
    expect(found).toBeGreaterThan(0); // the comparison covers real trajectories, not only failures
  });
});

// ---------------------------------------------------------------------------------------------
// linear MNIST oracle

function checkValid(r: Awaited<ReturnType<typeof runDefinition>>, ys: Int32Array, optimum: number[]) {
  for (const v of r.adv) expect(v >= 0 && v <= 1).toBe(true);
  r.success.forEach((s, i) => {
    if (s) expect(r.l0[i], `sample ${i} sparser than the exact optimum`).toBeGreaterThanOrEqual(optimum[i]);
    else expect(r.l0[i], `failed sample ${i} must come back unchanged`).toBe(0);
    // a claimed ℓ0 is what comes back; -1 exactly for the failures
    expect(r.diagnostics!.claimedL0[i]).toBe(s ? r.l0[i] : -1);
  });
  expect(r.pred.length).toBe(ys.length);
}

describe('pdpgd-l0 on the linear MNIST oracle', () => {
  const shape: [number, number, number] = [28, 28, 1];

  it('default (ℓ0 prox): valid, never sparser than the optimum, exactly 1F+1B per step, deterministic', async () => {
    const r = await runDefinition(pdpgdL0Attack, lin.net, lin.xs, lin.ys, shape, { steps: 60 });
    checkValid(r, lin.ys, lin.optimum);
    expect([r.forwards, r.backwards]).toEqual([60 * N, 60 * N]);
    expect(r.success.filter(Boolean).length).toBeGreaterThanOrEqual(N - 1);
    const again = await runDefinition(pdpgdL0Attack, lin.net, lin.xs, lin.ys, shape, { steps: 60 });
    expect(again.adv).toEqual(r.adv);
  });

  it('ℓ2/3 prox: valid, exactly 1F+1B per step', async () => {
    const r = await runDefinition(pdpgdL0Attack, lin.net, lin.xs, lin.ys, shape, { steps: 40, proximalOperator: 'l23' });
    checkValid(r, lin.ys, lin.optimum);
    expect([r.forwards, r.backwards]).toEqual([40 * N, 40 * N]);
    expect(r.success.filter(Boolean).length).toBeGreaterThanOrEqual(N / 2);
  });

  it('failures return x: one step cannot fool a correctly classified sample', async () => {
    const r = await runDefinition(pdpgdL0Attack, lin.net, lin.xs, lin.ys, shape, { steps: 1 });
    checkValid(r, lin.ys, lin.optimum);
    expect(r.success.every((s) => !s)).toBe(true);
    expect(r.l0.every((v) => v === 0)).toBe(true);
    expect([r.forwards, r.backwards]).toEqual([N, N]);
  });

  it('inputs already misclassified come back unchanged (ℓ0 0), the others are attacked', async () => {
    const ys = Int32Array.from(lin.ys);
    ys[0] = (ys[0] + 1) % 10;
    ys[3] = (ys[3] + 4) % 10;
    const r = await runDefinition(pdpgdL0Attack, lin.net, lin.xs, ys, shape, { steps: 30 });
    expect([r.l0[0], r.l0[3]]).toEqual([0, 0]);
    expect([r.diagnostics!.claimedL0[0], r.diagnostics!.claimedL0[3]]).toEqual([0, 0]);
    expect(r.l0.filter((v) => v > 0).length).toBeGreaterThan(N / 2);
  });

  it('random start: same seed → same output; another seed → another output', async () => {
    const o = { steps: 20, randomInit: 0.05 };
    const a = await runDefinition(pdpgdL0Attack, lin.net, lin.xs, lin.ys, shape, { ...o, seed: 4 });
    const b = await runDefinition(pdpgdL0Attack, lin.net, lin.xs, lin.ys, shape, { ...o, seed: 4 });
    const c = await runDefinition(pdpgdL0Attack, lin.net, lin.xs, lin.ys, shape, { ...o, seed: 5 });
    checkValid(a, lin.ys, lin.optimum);
    expect(b.adv).toEqual(a.adv);
    expect(c.adv).not.toEqual(a.adv);
  });

  it('no tensor leak (both proxes)', async () => {
    const x = tf.tensor4d(lin.xs, [N, ...shape]);
    const y = tf.tensor1d(lin.ys, 'int32');
    const model = new MeteredModel(lin.net);
    for (const proximalOperator of ['l0', 'l23'] as const) {
      await pdpgdL0(model, x, y, { steps: 3, proximalOperator }).then((r) => r.adversarials.dispose()); // warm-up
      const before = tf.memory().numTensors;
      const r = await pdpgdL0(model, x, y, { steps: 12, proximalOperator, randomInit: 0.01 });
      r.adversarials.dispose();
      expect(tf.memory().numTensors, proximalOperator).toBe(before);
    }
    tf.dispose([x, y]);
  });
});

// ---------------------------------------------------------------------------------------------
// options

describe('pdpgd-l0 options', () => {
  it('defaults: adv_lib pdpgd (norm 0) with steps from the sweep', () => {
    expect(pdpgdL0Attack.resolve({}, 1000)).toEqual({
      proximalOperator: 'l0',
      primalLr: 0.1,
      primalLrDecrease: 0.01,
      dualRatioInit: 0.01,
      dualLr: 0.1,
      dualLrDecrease: 0.1,
      dualEma: 0.9,
      dualMinRatio: 1e-6,
      proximalSteps: 5,
      epsThreshold: 1e-2,
      randomInit: 0,
      seed: 0,
    });
    expect(pdpgdOptionsSchema.parse({}).steps).toBe(500);
    expect(pdpgdL0Attack.budget(pdpgdL0Attack.resolve({}, 10))).toBeNull();
    expect(pdpgdL0Attack.resolve({ proximalOperator: 'l23', dualEma: 0 }, 10)).toMatchObject({ proximalOperator: 'l23', dualEma: 0 });
  });

  it.each([
    [{ primalLr: -0.1 }, 'primalLr'],
    [{ proximalOperator: 'l1' }, 'proximalOperator'],
    [{ dualEma: 1 }, 'dualEma'],
    [{ dualRatioInit: 0 }, 'dualRatioInit'],
    [{ proximalSteps: 2.5 }, 'proximalSteps'],
    [{ dualLr: Infinity }, 'dualLr'],
    [{ primalLrDecrease: 2 }, 'primalLrDecrease'],
    [{ nonsense: 1 }, 'nonsense'],
  ])('rejects %o naming %s', (opts, name) => {
    let err: unknown;
    try {
      pdpgdL0Attack.resolve(opts as Record<string, unknown>, 10);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ZodError);
    expect(JSON.stringify((err as ZodError).issues)).toContain(name);
  });

  it('rejects steps 0 (the sweep budget)', () => {
    expect(() => pdpgdL0Attack.resolve({}, 0)).toThrow(ZodError);
  });
});

// ---------------------------------------------------------------------------------------------
// MNIST SmallCNN

describe('pdpgd-l0 on the MNIST SmallCNN', () => {
  it('a few images: valid, failures unchanged, exactly 1F+1B per step', async () => {
    const net = await loadSmallCnn();
    const idx = [0, 1, 2, 3];
    const test = loadDataset('mnist', 'test');
    const xs = gather(test.images, 784, idx);
    const ys = Int32Array.from(idx, (i) => test.labels[i]);
    const steps = 40;
    const r = await runDefinition(pdpgdL0Attack, net, xs, ys, [28, 28, 1], { steps });
    for (const v of r.adv) expect(v >= 0 && v <= 1).toBe(true);
    r.success.forEach((s, i) => {
      if (!s) expect(r.l0[i]).toBe(0);
      expect(r.diagnostics!.claimedL0[i]).toBe(s ? r.l0[i] : -1);
    });
    expect([r.forwards, r.backwards]).toEqual([steps * idx.length, steps * idx.length]);
    expect(r.success.filter(Boolean).length).toBeGreaterThanOrEqual(3);
  });
});
