/**
 * PGD-ℓ0 (Croce & Hein 2019), fra31/sparse-imperceivable-attacks `pgd_attacks_pt.py`
 * (`perturb_L0_box`, `project_L0_box`), as σ-zero's `PGD0` wrapper calls it; spec §4.2.
 * Fixed budget k in PIXELS (all channels of a pixel move together), so the feature ℓ0 of the result
 * can reach k·C; both are reported.
 *
 * Per restart: random start x2 = U[0,1]^d projected to k pixels; for i = 0 … N−1: if i > 0, one
 * forward+backward of the batch-mean cross-entropy at x2, any misclassified x2 is stored as the
 * sample's adversarial (the latest one, not the sparsest), the gradient is ℓ1-normalised per image
 * and x2 ← x2 + η·g + u, u ~ U(−5e−13, 5e−13); then every i: x2 = x + P_k(x2 − x). The last
 * projected iterate is never tested. Restarts only fill in samples not yet fooled. Queries: 1F for
 * the initial clean check + (N−1)·(1F + 1B) per restart.
 * Randomness comes from the task seed (tfjs seeded uniform), not numpy's global RNG.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { AttackResult, Classifier } from './types.ts';
import { kthLargest } from './projections.ts';
import { predict } from './losses.ts';
import { withHead } from './loss-head.ts';
import { perSampleNorm } from './norms.ts';
import { defineAttack, yieldToEventLoop } from './define.ts';

export const pgdL0OptionsSchema = z
  .object({
    steps: z.number().int().min(1).default(100),
    /** budget k in pixels */
    k: z.number().int().min(0).default(5),
    stepSize: z.number().positive().default(120000 / 255),
    restarts: z.number().int().min(1).default(1),
    seed: z.number().int().min(0).default(0),
  })
  .strict();
export type PgdL0Options = z.input<typeof pgdL0OptionsSchema>;

/**
 * P_k for perturbations v [B, P, C] with box [lb, ub] = [−x, 1−x]: pixel score
 * s_p = Σ_c v² − Σ_c min(ub − v, v − lb, 0)²; keep (clipped) the pixels with s_p ≥ the k-th largest.
 */
export function projectL0Box(v: tf.Tensor3D, x: tf.Tensor3D, k: number): tf.Tensor3D {
  return tf.tidy(() => {
    const [B, P] = v.shape;
    const lb = tf.neg(x);
    const ub = tf.sub(1, x);
    const outside = tf.minimum(tf.minimum(tf.sub(ub, v), tf.sub(v, lb)), 0);
    const s = tf.sub(tf.sum(tf.square(v), 2), tf.sum(tf.square(outside), 2)) as tf.Tensor2D; // [B, P]
    const clipped = tf.minimum(tf.maximum(v, lb), ub);
    if (k <= 0) return tf.zerosLike(v) as tf.Tensor3D;
    const th = kthLargest(s, new Array<number>(B).fill(Math.min(k, P))).reshape([B, 1]);
    const keep = tf.greaterEqual(s, th).reshape([B, P, 1]);
    return tf.where(tf.broadcastTo(keep, v.shape), clipped, tf.zerosLike(v)) as tf.Tensor3D;
  });
}

/** Direct use (tests, library callers): options validated here; sweeps bind them once (define.ts). */
export function pgdL0(model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, options: PgdL0Options = {}): Promise<AttackResult> {
  return runPgdL0(model, inputs, labels, pgdL0OptionsSchema.parse(options));
}

export async function runPgdL0(model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, o: z.output<typeof pgdL0OptionsSchema>): Promise<AttackResult> {
  const [B, H, W, C] = inputs.shape;
  const P = H * W;
  const x = inputs.reshape([B, P, C]) as tf.Tensor3D;
  const shape4 = [B, H, W, C] as [number, number, number, number];
  // initial clean prediction (counted, as the reference makes it)
  const cleanPred = tf.tidy(() => predict(model.forward(inputs)));
  const misclassified = tf.notEqual(cleanPred, labels);
  const found = Array.from(await misclassified.data()).map(Boolean);
  tf.dispose([cleanPred, misclassified]);
  let adv = x.clone();
  const numClasses = model.numClasses;
  const yOneHot = tf.oneHot(labels, numClasses);

  for (let r = 0; r < o.restarts && (r === 0 || found.some((f) => !f)); r++) {
    // the first restart attacks every sample (as the reference does, misclassified ones included);
    // later restarts only fill in samples not fooled yet
    const eligible = found.map((f) => r === 0 || !f);
    let x2 = tf.tidy(() => {
      const start = tf.randomUniform([B, P, C], 0, 1, 'float32', o.seed * 1000 + r * 2 + 1);
      return tf.add(x, projectL0Box(tf.sub(start, x) as tf.Tensor3D, x, o.k)) as tf.Tensor3D;
    });
    for (let i = 0; i < o.steps; i++) {
      if (i > 0) {
        const res = tf.tidy(() => {
          const zero = tf.zeros(shape4) as tf.Tensor4D;
          const ce = withHead((lg) => tf.losses.softmaxCrossEntropy(yOneHot, lg) as tf.Scalar, { logits: 'ce', labels, reduction: 'mean' });
          const { logits, grad } = model.valueAndGrad(x2.reshape(shape4) as tf.Tensor4D, zero, ce);
          const mis = tf.notEqual(predict(logits), labels);
          logits.dispose();
          return { mis, grad: grad.reshape([B, P, C]) };
        });
        const mis = Array.from(await res.mis.data()).map(Boolean);
        const next = tf.tidy(() => {
          const misT = tf.tensor1d(mis.map((m, k) => Number(m && eligible[k])), 'bool').reshape([B, 1, 1]);
          const newAdv = tf.where(tf.broadcastTo(misT, [B, P, C]), x2, adv);
          const g = tf.div(res.grad, tf.add(perSampleNorm(res.grad.reshape([B, P * C]), 1), 1e-10).reshape([B, 1, 1]));
          const noise = tf.mul(tf.sub(tf.randomUniform([B, P, C], 0, 1, 'float32', o.seed * 1000000 + r * 10000 + i + 1), 0.5), 1e-12); // +1: tfjs treats seed 0 as unseeded
          const moved = tf.add(x2, tf.add(noise, tf.mul(g, o.stepSize)));
          return { adv: newAdv as tf.Tensor3D, x2: moved as tf.Tensor3D };
        });
        mis.forEach((m, k) => (found[k] = found[k] || (m && eligible[k])));
        tf.dispose([res.mis, res.grad, adv, x2]);
        adv = next.adv;
        x2 = next.x2;
      }
      const projected = tf.tidy(() => tf.add(x, projectL0Box(tf.sub(x2, x) as tf.Tensor3D, x, o.k)) as tf.Tensor3D);
      x2.dispose();
      x2 = projected;
      if (i % 10 === 9) await yieldToEventLoop();
    }
    x2.dispose();
  }
  // samples never fooled return x (adv still holds x for them; clean-misclassified keep x too)
  const adversarials = adv.reshape(shape4) as tf.Tensor4D;
  tf.dispose([x, adv, yOneHot]);
  return { adversarials, diagnostics: { pixelBudget: new Array<number>(B).fill(o.k) } };
}

export const pgdL0Attack = defineAttack({
  name: 'pgd-l0',
  description: 'PGD-ℓ0 (Croce & Hein): fixed budget k in PIXELS (option k), random start',
  options: pgdL0OptionsSchema,
  budget: { option: 'k', unit: 'pixel' },
  run: runPgdL0,
});
