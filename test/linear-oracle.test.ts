/**
 * σ-zero against an exact oracle: on a linear classifier (softmax regression trained here on MNIST,
 * seeded) the minimum ℓ0 is computable exactly (test/helpers/linear-oracle.ts). σ-zero must come
 * close to it; a dense attack that also succeeds (the minimal-ℓ2 step, DeepFool on a linear model)
 * must fail the same check, so the check cannot pass for an attack that ignores sparsity.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../agent/engine/backend.ts';
import { MeteredModel } from '../agent/engine/metered-model.ts';
import { sigmaZero } from '../agent/attacks/sigma-zero.ts';
import { linearMinL0 } from './helpers/linear-oracle.ts';
import { D, l0Of, trainLinear } from './helpers/linear-model.ts';

const N = 64;
let net: tf.LayersModel;
let W: Float32Array;
let bias: Float32Array;
let xs: Float32Array;
let ys: Int32Array;
let optimum: number[];

/** Tolerance (measured: see the note on the issue): ℓ0 ≤ 1.5·opt + 3 per sample, and median excess ≤ 40 %. */
function closeToOptimum(l0: number[], opt: number[]): { ok: boolean; worst: number; medianRatio: number } {
  const ratios = l0.map((v, i) => (opt[i] === 0 ? (v === 0 ? 1 : Infinity) : v / opt[i])).sort((a, b) => a - b);
  const perSample = l0.every((v, i) => v <= 1.5 * opt[i] + 3);
  const medianRatio = ratios[Math.floor(ratios.length / 2)];
  return { ok: perSample && medianRatio <= 1.4, worst: ratios[ratios.length - 1], medianRatio };
}

beforeAll(async () => {
  await selectBackend('wasm');
  ({ net, W, bias, xs, ys, optimum } = trainLinear(N));
});

describe('σ-zero vs the exact minimum ℓ0 of a linear classifier', () => {
  it('the oracle is exact on a hand-made case', () => {
    // 3 features, 2 classes, W[:,0] − W[:,1] = (1, 1, −1); x = (0.6, 0.5, 0.9)
    // largest possible margin drops: 0.6 (x0 → 0), 0.5 (x1 → 0), 0.1 (x2 → 1)
    const Wm = Float32Array.from([1, 0, 1, 0, -1, 0]); // [d=3][classes=2]
    const x = Float32Array.from([0.6, 0.5, 0.9]);
    // m = 0.6 + 0.5 − 0.9 + (b0 − b1)
    expect(linearMinL0(Wm, Float32Array.from([0.5, 0]), 3, 2, x, 0)).toBe(2); // m = 0.7 → 0.6 is not enough, 0.6 + 0.5 is
    expect(linearMinL0(Wm, Float32Array.from([0.8, 0]), 3, 2, x, 0)).toBe(2); // m = 1.0 → 0.6 + 0.5
    expect(linearMinL0(Wm, Float32Array.from([0.95, 0]), 3, 2, x, 0)).toBe(3); // m = 1.15 → all three
    expect(linearMinL0(Wm, Float32Array.from([1.3, 0]), 3, 2, x, 0)).toBe(Infinity); // m = 1.5 > 1.2
    expect(linearMinL0(Wm, Float32Array.from([-0.3, 0]), 3, 2, x, 0)).toBe(0); // already misclassified
  });

  it('σ-zero (100 steps) lands close to the optimum', async () => {
    const m = new MeteredModel(net);
    const x = tf.tensor4d(xs, [N, 28, 28, 1]);
    const r = await sigmaZero(m, x, tf.tensor1d(ys, 'int32'), { steps: 100 });
    const adv = (await r.adversarials.data()) as Float32Array;
    const pred = tf.argMax(net.predict(r.adversarials) as tf.Tensor, 1).dataSync();
    const l0 = Array.from({ length: N }, (_, i) => l0Of(adv, xs, i));
    for (let i = 0; i < N; i++) {
      expect(pred[i], `sample ${i} not fooled`).not.toBe(ys[i]);
      expect(l0[i], `sample ${i} beats the exact optimum: oracle or ℓ0 count is wrong`).toBeGreaterThanOrEqual(optimum[i]);
    }
    const verdict = closeToOptimum(l0, optimum);
    console.log(`linear oracle: optimum median ${[...optimum].sort((a, b) => a - b)[N >> 1]}, σ-zero/opt median ratio ${verdict.medianRatio.toFixed(3)}, worst ${verdict.worst.toFixed(2)}, exact on ${l0.filter((v, i) => v === optimum[i]).length}/${N}`);
    expect(verdict.ok).toBe(true);
  });

  it('the same check rejects a dense attack (minimal-ℓ2 step) that also succeeds', async () => {
    // DeepFool on a linear model: move along w_j − w_y just past the nearest boundary, clipped
    const adv = new Float32Array(xs);
    for (let k = 0; k < N; k++) {
      const x = xs.subarray(k * D, (k + 1) * D);
      let bestJ = -1;
      let bestDist = Infinity;
      for (let j = 0; j < 10; j++) {
        if (j === ys[k]) continue;
        let m = bias[ys[k]] - bias[j];
        let n2 = 0;
        for (let i = 0; i < D; i++) {
          const a = W[i * 10 + ys[k]] - W[i * 10 + j];
          m += a * x[i];
          n2 += a * a;
        }
        if (m / Math.sqrt(n2) < bestDist) ((bestDist = m / Math.sqrt(n2)), (bestJ = j));
      }
      for (let scale = 1.02; ; scale *= 1.5) {
        let m = bias[ys[k]] - bias[bestJ];
        let n2 = 0;
        for (let i = 0; i < D; i++) n2 += (W[i * 10 + ys[k]] - W[i * 10 + bestJ]) ** 2;
        for (let i = 0; i < D; i++) m += (W[i * 10 + ys[k]] - W[i * 10 + bestJ]) * x[i];
        for (let i = 0; i < D; i++) {
          const a = W[i * 10 + ys[k]] - W[i * 10 + bestJ];
          adv[k * D + i] = Math.min(1, Math.max(0, x[i] - (scale * m * a) / n2));
        }
        const p = tf.argMax(net.predict(tf.tensor4d(adv.subarray(k * D, (k + 1) * D), [1, 28, 28, 1])) as tf.Tensor, 1).dataSync()[0];
        if (p !== ys[k] || scale > 100) break;
      }
    }
    const l0 = Array.from({ length: N }, (_, i) => l0Of(adv, xs, i));
    expect(closeToOptimum(l0, optimum).ok).toBe(false);
  });
});
