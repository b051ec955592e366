/**
 * FMN, ℓ0 variant: adversarial-library `fmn(norm=0)` (jeromerony/adversarial-library
 * `adv_lib/attacks/fast_minimum_norm.py`), the version the σ-zero paper ran; spec §4.1.
 *
 * Per step i (no starting points): cosine-annealed α (α_init → α_init/100) and γ (0.05 → 0.001);
 * evaluate x+δ (pred, margin m = f_y − max_{j≠y} f_j); gradient of Σ −m; best = adversarial with
 * strictly fewer nonzero features; ε update (adversarial: min(ε−1, ⌊ε(1−γ)⌋, best); else
 * max(ε+1, ⌊ε(1+γ)⌋); clamp to [0, d]); δ += α·g/‖g‖₂; keep |δ| ≥ the ⌊ε⌋-th largest |δ|;
 * box. Returns the best adversarial, x for failures. 1F + 1B per step for the whole batch.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { AttackResult, Classifier } from './types.ts';
import { countNonZero, differenceOfLogits, predict } from './losses.ts';
import { withHead } from './loss-head.ts';
import { cosineInterp } from './schedules.ts';
import { boxDelta, l0ProjectFeatures } from './projections.ts';
import { perSampleNorm } from './norms.ts';
import { defineAttack, yieldToEventLoop } from './define.ts';

export const fmnOptionsSchema = z
  .object({
    steps: z.number().int().min(1).default(10),
    alphaInit: z.number().positive().default(1.0),
    /** default α_init / 100 */
    alphaFinal: z.number().positive().optional(),
    gammaInit: z.number().positive().default(0.05),
    gammaFinal: z.number().positive().default(0.001),
  })
  .strict();
export type FmnOptions = z.input<typeof fmnOptionsSchema>;

/** Direct use (tests, library callers): options validated here; sweeps bind them once (define.ts). */
export function fmnL0(model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, options: FmnOptions = {}): Promise<AttackResult> {
  return runFmnL0(model, inputs, labels, fmnOptionsSchema.parse(options));
}

async function runFmnL0(model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, o: z.output<typeof fmnOptionsSchema>): Promise<AttackResult> {
  const alphaFinal = o.alphaFinal ?? o.alphaInit / 100;
  const [B, H, W, C] = inputs.shape;
  const d = H * W * C;
  const x = inputs.reshape([B, d]) as tf.Tensor2D;
  let delta = tf.zeros([B, d]) as tf.Tensor2D;
  let bestAdv = x.clone();
  const bestNorm = new Array<number>(B).fill(d);
  let eps = new Array<number>(B).fill(1);

  for (let i = 0; i < o.steps; i++) {
    const alpha = cosineInterp(o.alphaInit, alphaFinal, i, o.steps);
    const gamma = cosineInterp(o.gammaInit, o.gammaFinal, i, o.steps);
    const step = tf.tidy(() => {
      const n = countNonZero(delta);
      const { logits, grad } = model.valueAndGrad(
        x.reshape([B, H, W, C]),
        delta.reshape([B, H, W, C]),
        withHead((lg) => tf.sum(tf.neg(differenceOfLogits(lg, labels))), { logits: 'margin', labels, reduction: 'sum', scale: -1 }),
      );
      const isAdv = tf.notEqual(predict(logits), labels);
      logits.dispose();
      return { n, isAdv, grad: grad.reshape([B, d]) as tf.Tensor2D };
    });
    const [n, isAdv] = [await step.n.data(), await step.isAdv.data()];
    const better: boolean[] = [];
    for (let k = 0; k < B; k++) {
      better.push(Boolean(isAdv[k]) && n[k] < bestNorm[k]);
      if (better[k]) bestNorm[k] = n[k];
      const e = isAdv[k]
        ? Math.min(eps[k] - 1, Math.floor(eps[k] * (1 - gamma)), bestNorm[k])
        : Math.max(eps[k] + 1, Math.floor(eps[k] * (1 + gamma)));
      eps[k] = Math.min(Math.max(e, 0), d);
    }
    const next = tf.tidy(() => {
      const b = tf.tensor1d(better.map(Number), 'bool').reshape([B, 1]);
      const newBest = tf.where(b, tf.add(x, delta), bestAdv);
      const g = step.grad;
      const gnorm = tf.maximum(perSampleNorm(g, 2), 1e-12);
      let d2 = tf.add(delta, tf.mul(tf.div(g, gnorm), alpha)) as tf.Tensor2D;
      d2 = l0ProjectFeatures(d2, eps);
      d2 = boxDelta(x, d2) as tf.Tensor2D;
      return { delta: d2, best: newBest as tf.Tensor2D };
    });
    tf.dispose([delta, bestAdv, step.n, step.isAdv, step.grad]);
    delta = next.delta;
    bestAdv = next.best;
    if (i % 10 === 9) await yieldToEventLoop();
  }
  const adversarials = bestAdv.reshape([B, H, W, C]) as tf.Tensor4D;
  tf.dispose([x, delta, bestAdv]);
  eps = eps.map((e) => Math.trunc(e));
  return { adversarials, diagnostics: { claimedL0: bestNorm, finalEpsilon: eps } };
}

export const fmnL0Attack = defineAttack({
  name: 'fmn-l0',
  description: 'FMN, ℓ0 (adversarial-library fmn, norm=0): minimum-norm, ε adapted per step',
  options: fmnOptionsSchema,
  run: runFmnL0,
});
