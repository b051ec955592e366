/**
 * σ-zero (Cinà et al., ICLR 2025), the current official code "V3"
 * (sigma0-advx/sigma-zero `sigma_zero_attack.py` at f79dedd), as specified in
 * shared/spec/attacks.md §1. Batched; no per-sample or per-feature JS loops.
 *
 * Per iteration i = 0 … N−1, on the active samples (all of them unless `epsilonBudget` is set):
 *  1. forward at x+δ; margin term D = max(0, f_y − max_{j≠y} f_j); smooth ℓ0 term
 *     L̃0 = Σ δ²/(δ²+σ) / d (d = number of features); loss = mean over the active samples.
 *     (The paper's +1 indicator is a constant: it changes the loss value, never the update, and is
 *     therefore not computed.)
 *  2. best tracking on this pre-update point: adversarial and strictly fewer nonzero features;
 *  3. backward; per-sample normalisation g / max(‖g‖_p, 1e−12), p = ∞ by default;
 *  4. Adam (β 0.9/0.999, ε 1e−8, PyTorch's update order) with η_i from a cosine schedule to η0/10;
 *  5. box: δ ← clip(x+δ, 0, 1) − x;
 *  6. τ ← clip(τ ∓ t·η_{i+1}, 0, 1) (− when the evaluated point was not adversarial), active only;
 *  7. sparsify every sample: |δ_i| < τ (strict, per feature) → 0;
 *  8. with `epsilonBudget` k: samples whose best ℓ0 ≤ k leave the active set (fewer queries).
 * Returns x + best δ; failures return x (best δ = 0); the last update is never evaluated.
 *
 * Deviations from the reference, all numerical: tfjs rounds the Adam moment update `m·β + g·(1−β)`
 * twice where ATen uses one fused multiply-add, and the autograd of the ℓ0 surrogate may sum in
 * another order. Both are float32 rounding (drift bounded in test/sigma-zero-conformance.test.ts).
 * Inactive samples: the reference keeps stepping their δ with Adam momentum (zero gradient); we
 * do the same (it cannot change the result, best δ is frozen).
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { AttackResult, Classifier } from './types.ts';
import { countNonZero, differenceOfLogits, predict } from './losses.ts';
import { withHead } from './loss-head.ts';
import { perSampleNorm } from './norms.ts';
import { cosineAnnealingLrs } from './schedules.ts';
import { defineAttack, yieldToEventLoop } from './define.ts';

export const sigmaZeroOptionsSchema = z
  .object({
    steps: z.number().int().min(1).default(100),
    /** η0, initial step size */
    lr: z.number().positive().default(1),
    sigma: z.number().positive().default(1e-3),
    /** τ0, initial sparsification threshold */
    threshold: z.number().min(0).max(1).default(0.3),
    /** threshold factor: τ moves by t·η per step */
    t: z.number().min(0).default(0.01),
    gradNorm: z.union([z.literal('inf'), z.literal(1), z.literal(2)]).default('inf'),
    /** stop optimising a sample once its best ℓ0 ≤ epsilonBudget (null: never) */
    epsilonBudget: z.number().int().min(0).nullable().default(null),
  })
  .strict();

export type SigmaZeroOptions = z.input<typeof sigmaZeroOptionsSchema>;
type Resolved = z.output<typeof sigmaZeroOptionsSchema>;

/** The σ-zero* preset of sigma0-advx `attacks.py` (Jul 2025): η0 0.1 (η_min 0.01), σ 1, τ0 0.1, t 0.0015. */
export const SIGMA_ZERO_STAR: SigmaZeroOptions = { lr: 0.1, sigma: 1.0, threshold: 0.1, t: 0.0015 };

const BETA1 = 0.9;
const BETA2 = 0.999;
const ADAM_EPS = 1e-8;

/** Observation points for conformance tests; not part of the attack's options. */
export interface SigmaZeroHooks {
  /** called with each evaluated point: the active sample indices and their δ (flat, float32) */
  onEvaluate?: (step: number, activeIdx: number[], delta: Float32Array) => void;
}

/** Direct use (tests, library callers): options validated here; sweeps bind them once (define.ts). */
export function sigmaZero(model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, options: SigmaZeroOptions = {}, hooks: SigmaZeroHooks = {}): Promise<AttackResult> {
  return runSigmaZero(model, inputs, labels, sigmaZeroOptionsSchema.parse(options), hooks);
}

async function runSigmaZero(model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, o: Resolved, hooks: SigmaZeroHooks = {}): Promise<AttackResult> {
  const [B, H, W, C] = inputs.shape;
  const d = H * W * C;
  const lrs = cosineAnnealingLrs(o.lr, o.lr / 10, o.steps);
  const flat = (t: tf.Tensor) => t.reshape([t.shape[0], d]) as tf.Tensor2D;
  // per-sample values spread over a sample's d features. On wasm as a [B,1]×[1,d] product (exact:
  // one term, times 1): its row-broadcasting compare and its Tile (what tf.where does with a [B,1]
  // condition) were 18 % of an ONNX Runtime-engine step at batch 100. Elsewhere a plain broadcast
  // (a GPU matmul may round through TF32)
  const onWasm = tf.getBackend() === 'wasm';
  const ones = tf.ones([1, d]) as tf.Tensor2D;
  const perFeature = (rows: tf.Tensor) => {
    const col = rows.reshape([rows.shape[0], 1]) as tf.Tensor2D;
    return onWasm ? tf.matMul(col, ones) : tf.broadcastTo(col, [rows.shape[0], d]);
  };

  const x = flat(inputs);
  let delta = tf.zeros([B, d]) as tf.Tensor2D;
  let m = tf.zeros([B, d]) as tf.Tensor2D;
  let v = tf.zeros([B, d]) as tf.Tensor2D;
  let tau = tf.fill([B, 1], o.threshold) as tf.Tensor2D;
  let bestDelta = tf.zeros([B, d]) as tf.Tensor2D;
  let bestL0 = tf.fill([B], d, 'int32') as tf.Tensor1D;
  let active = tf.ones([B], 'bool') as tf.Tensor1D;
  let activeIdx = Array.from({ length: B }, (_, i) => i);
  const stepsRun = new Array<number>(B).fill(0);

  for (let i = 0; i < o.steps && activeIdx.length > 0; i++) {
    const nActive = activeIdx.length;
    for (const k of activeIdx) stepsRun[k]++;
    if (hooks.onEvaluate) hooks.onEvaluate(i, [...activeIdx], delta.dataSync() as Float32Array);
    const etaI = lrs[i];
    const etaNext = lrs[i + 1];
    const s = i + 1; // Adam step counter
    const next = tf.tidy(() => {
      const all = nActive === B;
      const idxT = all ? null : tf.tensor1d(activeIdx, 'int32');
      const xa = all ? x : tf.gather(x, idxT!);
      const da = all ? delta : tf.gather(delta, idxT!);
      const ya = all ? labels : tf.gather(labels, idxT!);
      const smoothL0 = (dd: tf.Tensor4D) => {
        const dd2 = tf.square(dd.reshape([nActive, d]));
        return tf.div(tf.sum(tf.div(dd2, tf.add(dd2, o.sigma)), 1), d);
      };
      // annotated (loss-head.ts): mean(relu(margin) + L̃0) = mean(relu(margin)) + mean(L̃0)
      const loss = withHead((lg, dd) => tf.mean(tf.add(tf.relu(differenceOfLogits(lg, ya)), smoothL0(dd))), {
        logits: 'margin-clamped',
        labels: ya,
        reduction: 'mean',
        delta: (dd) => tf.mean(smoothL0(dd)),
      });
      const { logits, grad } = model.valueAndGrad(xa.reshape([nActive, H, W, C]), da.reshape([nActive, H, W, C]), loss);
      const isAdvA = tf.notEqual(predict(logits), ya);
      logits.dispose();
      const scatterRows = <T extends tf.Tensor>(t: T, shape: number[]): T =>
        (all ? t : tf.scatterND(idxT!.reshape([nActive, 1]), t, shape)) as T;
      const g = scatterRows(flat(grad), [B, d]);
      const isAdv = all ? isAdvA : tf.cast(scatterRows(tf.cast(isAdvA, 'int32'), [B]), 'bool');

      // best tracking on the evaluated (pre-update) point
      const nnz = countNonZero(delta);
      const better = tf.logicalAnd(tf.logicalAnd(active, isAdv), tf.less(nnz, bestL0));
      const newBestL0 = tf.where(better, nnz, bestL0);
      const newBestDelta = tf.where(tf.cast(perFeature(tf.cast(better, 'float32')), 'bool'), delta, bestDelta);

      // normalised gradient → Adam (PyTorch single-tensor order)
      const gn = tf.div(g, tf.maximum(perSampleNorm(g, o.gradNorm), 1e-12));
      const m2 = tf.add(tf.mul(m, BETA1), tf.mul(gn, 1 - BETA1));
      // ATen addcmul evaluates v + (value·g)·g, addcdiv evaluates δ + (value·m)/denom: same order here
      const v2 = tf.add(tf.mul(v, BETA2), tf.mul(tf.mul(gn, 1 - BETA2), gn));
      const stepSize = etaI / (1 - BETA1 ** s);
      const bc2Sqrt = Math.sqrt(1 - BETA2 ** s);
      const denom = tf.add(tf.div(tf.sqrt(v2), bc2Sqrt), ADAM_EPS);
      let d2 = tf.add(delta, tf.div(tf.mul(m2, -stepSize), denom));
      // box, threshold, sparsify
      d2 = tf.sub(tf.clipByValue(tf.add(x, d2), 0, 1), x);
      const step = o.t * etaNext;
      const tauMoved = tf.clipByValue(tf.add(tau, tf.where(isAdv, tf.fill([B], step), tf.fill([B], -step)).reshape([B, 1])), 0, 1);
      const tau2 = tf.where(active.reshape([B, 1]), tauMoved, tau);
      d2 = tf.where(tf.less(tf.abs(d2), perFeature(tau2)), tf.zerosLike(d2), d2);
      return { delta: d2, m: m2, v: v2, tau: tau2, bestDelta: newBestDelta, bestL0: newBestL0 } as Record<string, tf.Tensor>;
    });
    tf.dispose([delta, m, v, tau, bestDelta, bestL0]);
    delta = next.delta as tf.Tensor2D;
    m = next.m as tf.Tensor2D;
    v = next.v as tf.Tensor2D;
    tau = next.tau as tf.Tensor2D;
    bestDelta = next.bestDelta as tf.Tensor2D;
    bestL0 = next.bestL0 as tf.Tensor1D;

    if (o.epsilonBudget !== null) {
      const best = await bestL0.data();
      activeIdx = activeIdx.filter((k) => best[k] > o.epsilonBudget!);
      const mask = new Array<boolean>(B).fill(false);
      for (const k of activeIdx) mask[k] = true;
      active.dispose();
      active = tf.tensor1d(mask.map(Number), 'bool');
    }
    if (i % 10 === 9) await yieldToEventLoop();
  }

  const adversarials = tf.tidy(() => tf.add(x, bestDelta).reshape([B, H, W, C]) as tf.Tensor4D);
  const bestL0Claimed = Array.from(await bestL0.data());
  tf.dispose([x, delta, m, v, tau, bestDelta, bestL0, active, ones]);
  return { adversarials, diagnostics: { claimedL0: bestL0Claimed, stepsRun } };
}

export const sigmaZeroAttack = defineAttack({
  name: 'sigma-zero',
  description: 'σ-zero (official V3 code): Adam on the ℓ∞-normalised gradient, cosine schedule, adaptive τ',
  options: sigmaZeroOptionsSchema,
  budget: { option: 'epsilonBudget', unit: 'feature' },
  run: (model, inputs, labels, o) => runSigmaZero(model, inputs, labels, o),
});

export const sigmaZeroStarAttack = defineAttack({
  name: 'sigma-zero*',
  description: 'σ-zero with the σ-zero* preset (η0 0.1, σ 1, τ0 0.1, t 0.0015)',
  options: sigmaZeroOptionsSchema,
  preset: SIGMA_ZERO_STAR,
  budget: { option: 'epsilonBudget', unit: 'feature' },
  run: (model, inputs, labels, o) => runSigmaZero(model, inputs, labels, o),
});
