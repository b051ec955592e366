/**
 * sparse-PGD (sPGD), untargeted, cross-entropy loss: CityU-MLO/sPGD `autoattack/spgd.py`
 * (`SparsePGD`, `MaskingA`), as σ-zero's `sparse_PGD` wrapper calls it (ε = 1, k = 20,
 * unprojected gradient, patience 3, α = β = 0.25, random start); spec §4.9. Fixed budget k in
 * FEATURES: run in feature space (§2.5), every feature has its own mask entry. The reference's
 * memory-order reshape to (B, 1, H, W·C) only matters for tie-breaking, since every step is per
 * feature or over the whole sample; here the rows are the flat NHWC samples.
 *
 * State per attacked sample: perturbation p (U(−ε, ε) clipped to the box [−x, 1−x], or 0 without
 * random start) and mask logits m ~ N(0,1). The point evaluated is x + p ⊙ M, M the binary mask of
 * the k largest m. Backward (unprojected gradient, custom in the reference): with g = ∂CE/∂input,
 * ∂p = g ⊙ σ(m) (g ⊙ M with `unprojectedGradient: false`) and ∂σ(m) = g ⊙ p, which autograd
 * carries through the sigmoid: ∂m = g ⊙ p ⊙ σ(m)(1 − σ(m)).
 * One gradient evaluation at the start (never checked, as in the reference), then t = steps
 * iterations on the samples still active:
 *  1. m ← m + √d·β·∇m/(‖∇m‖₂ + 1e−10) (no step when ‖∇m‖₂ < 2e−10);
 *     p ← clip(p + α·ε·sign(∇p), −ε, ε), then into the box;
 *  2. forward + backward at x + p ⊙ M (CE per sample, summed);
 *  3. best tracking: CE ≥ the best CE so far (initially the clean one) → new best; an adversarial
 *     point is the sample's output and the sample leaves the active set;
 *  4. a sample still failing whose binary mask did not change in the update counts one more
 *     unchanged iteration (any change resets it to 0); at `patience` its m is redrawn from N(0,1)
 *     (p and the last gradients are kept, as in σ-zero's copy) and the count restarts.
 * Queries: 1F for the clean check of the batch, then 1F+1B per active sample per gradient
 * evaluation: per attacked sample 1 + (iterations it took part in), i.e. t + 1 for a failure.
 *
 * Deviations, on purpose:
 * - Failures return x. The reference returns the highest-CE iterate (perturbed, not adversarial);
 *   here only its CE is kept (diagnostics `bestLoss`).
 * - The unchanged-mask counter is per sample, as the spec words it ("consecutive"). In the
 *   reference's code a sample's count is reset only in an iteration where NO still-failing sample
 *   of the batch kept its mask, so its re-initialisations depend on the rest of the batch.
 * - When no sample is correctly classified the reference attacks the whole batch; here nothing is
 *   attacked (misclassified inputs come back unchanged, per the attack contract). k = 0 attacks
 *   nothing either; k > d is clamped to d.
 * - The top-k is taken on m, not on σ(m) (the same set, except ties where σ saturates in float32);
 *   ties go to the lower feature index. The evaluated point is clip(x + p ⊙ M, 0, 1) (a float32
 *   no-op in exact arithmetic) so that what is returned is exactly what was evaluated.
 * - Random draws come from the task seed (mulberry32 → seeds of tfjs random ops), not torch's RNG:
 *   same distributions, different draws.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { AttackResult, Classifier } from './types.ts';
import { predict } from './losses.ts';
import { perSampleNorm } from './norms.ts';
import { mulberry32 } from './rng.ts';
import { defineAttack, yieldToEventLoop } from './define.ts';

export const spgdOptionsSchema = z
  .object({
    /** iterations t (σ-zero wrapper default 10000); a sweep's step budget maps here */
    steps: z.number().int().min(1).default(10000),
    /** budget k in features */
    k: z.number().int().min(0).default(20),
    /** ℓ∞ bound of the perturbation */
    epsilon: z.number().positive().default(1),
    /** perturbation step, relative to epsilon (step = α·ε) */
    alpha: z.number().positive().default(0.25),
    /** mask step, relative to √d */
    beta: z.number().positive().default(0.25),
    /** unchanged-mask iterations before the mask is redrawn */
    patience: z.number().int().min(1).default(3),
    /** ∂p = g ⊙ σ(m) (true, MaskingA) or g ⊙ binary mask (false, MaskingB) */
    unprojectedGradient: z.boolean().default(true),
    randomStart: z.boolean().default(true),
    seed: z.number().int().min(0).default(0),
  })
  .strict();
export type SpgdOptions = z.input<typeof spgdOptionsSchema>;
type Resolved = z.output<typeof spgdOptionsSchema>;

/** Per-sample cross-entropy of logits [n, K] against one-hot labels [n, K]. */
function crossEntropy(logits: tf.Tensor2D, oneHot: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, oneHot), 1)) as tf.Tensor1D);
}

/** Binary mask [n, d] of the k largest entries of each row of m (exactly k; ties to the lower index). */
export function topkMask(m: tf.Tensor2D, k: number): tf.Tensor2D {
  return tf.tidy(() => {
    const [n, d] = m.shape;
    const { indices } = tf.topk(m, k);
    const rows = tf.tile(tf.range(0, n, 1, 'int32').reshape([n, 1]), [1, k]);
    const idx = tf.stack([rows, indices], 2).reshape([n * k, 2]);
    return tf.scatterND(idx, tf.ones([n * k], 'float32'), [n, d]) as tf.Tensor2D;
  });
}

/**
 * The reference's custom backward, from g = ∂loss/∂input: ∂p = g ⊙ σ(m) (unprojected) or g ⊙ M,
 * and ∂m = g ⊙ p ⊙ σ'(m) (the masking returns g ⊙ p for its input σ(m); autograd adds σ').
 */
export function spgdGradients(g: tf.Tensor2D, p: tf.Tensor2D, m: tf.Tensor2D, mask: tf.Tensor2D, unprojected: boolean): { gp: tf.Tensor2D; gm: tf.Tensor2D } {
  return tf.tidy(() => {
    const s = tf.sigmoid(m);
    const gp = tf.mul(g, unprojected ? s : mask) as tf.Tensor2D;
    const gm = tf.mul(tf.mul(g, p), tf.mul(s, tf.sub(1, s))) as tf.Tensor2D;
    return { gp, gm };
  });
}

/** The active samples' state, one row each. */
interface Active {
  ids: number[]; // batch index of each row
  x: tf.Tensor2D;
  y: tf.Tensor1D;
  oneHot: tf.Tensor2D;
  p: tf.Tensor2D;
  m: tf.Tensor2D;
  gp: tf.Tensor2D;
  gm: tf.Tensor2D;
  unchanged: number[];
}

interface Evaluation {
  xAdv: tf.Tensor2D;
  mask: tf.Tensor2D;
  logits: tf.Tensor2D;
  gp: tf.Tensor2D;
  gm: tf.Tensor2D;
}

/** One forward + backward at clip(x + p ⊙ M, 0, 1): the point, its mask, logits and the (p, m) gradients. */
function evaluate(model: Classifier, a: Active, k: number, shape: [number, number, number], unprojected: boolean): Evaluation {
  return tf.tidy(() => {
    const n = a.ids.length;
    const mask = topkMask(a.m, k);
    const xAdv = tf.clipByValue(tf.add(a.x, tf.mul(a.p, mask)), 0, 1) as tf.Tensor2D;
    const zero = tf.zeros([n, ...shape]) as tf.Tensor4D;
    const { logits, grad } = model.valueAndGrad(xAdv.reshape([n, ...shape]) as tf.Tensor4D, zero, (lg) => tf.sum(crossEntropy(lg, a.oneHot)) as tf.Scalar);
    const { gp, gm } = spgdGradients(grad.reshape(a.x.shape) as tf.Tensor2D, a.p, a.m, mask, unprojected);
    return { xAdv, mask, logits, gp, gm };
  });
}

/** The update of step 1: mask logits along the ℓ2-normalised ∇m, perturbation by signed ∇p. */
function update(a: Active, o: Resolved, d: number): { p: tf.Tensor2D; m: tf.Tensor2D } {
  return tf.tidy(() => {
    const norm = perSampleNorm(a.gm, 2);
    const step = tf.where(tf.less(norm, 2e-10), tf.zerosLike(norm), tf.fill(norm.shape, Math.sqrt(d) * o.beta));
    const m = tf.add(a.m, tf.mul(step, tf.div(a.gm, tf.add(norm, 1e-10)))) as tf.Tensor2D;
    const moved = tf.clipByValue(tf.add(a.p, tf.mul(tf.sign(a.gp), o.alpha * o.epsilon)), -o.epsilon, o.epsilon);
    const p = tf.minimum(tf.maximum(moved, tf.neg(a.x)), tf.sub(1, a.x)) as tf.Tensor2D;
    return { p, m };
  });
}

/** Keep only the rows `keep` (indices into the active set) of every state tensor; disposes the old ones. */
function keepRows(a: Active, keep: number[]): Active {
  const next = tf.tidy(() => {
    const idx = tf.tensor1d(keep, 'int32');
    const rows = <T extends tf.Tensor>(t: T) => tf.gather(t, idx) as T;
    return { x: rows(a.x), y: rows(a.y), oneHot: rows(a.oneHot), p: rows(a.p), m: rows(a.m), gp: rows(a.gp), gm: rows(a.gm) };
  });
  disposeState(a);
  return { ...next, ids: keep.map((r) => a.ids[r]), unchanged: keep.map((r) => a.unchanged[r]) };
}

function disposeState(a: Active): void {
  tf.dispose([a.x, a.y, a.oneHot, a.p, a.m, a.gp, a.gm]);
}

/** Direct use (tests, library callers): options validated here; sweeps bind them once (define.ts). */
export function spgd(model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, options: SpgdOptions = {}): Promise<AttackResult> {
  return runSpgd(model, inputs, labels, spgdOptionsSchema.parse(options));
}

export async function runSpgd(model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, o: Resolved): Promise<AttackResult> {
  const [B, H, W, C] = inputs.shape;
  const shape: [number, number, number] = [H, W, C];
  const d = H * W * C;
  const k = Math.min(o.k, d);
  const draw = mulberry32(o.seed);
  const nextSeed = () => Math.floor(draw() * 0xfffffffe) + 1; // tfjs treats seed 0 as unseeded
  const out = Float32Array.from(await inputs.data());
  const y = Array.from(await labels.data());
  const iterations = new Array<number>(B).fill(0);
  const maskResets = new Array<number>(B).fill(0);

  // clean check of the whole batch (counted): only correctly classified samples are attacked
  const clean = tf.tidy(() => {
    const logits = model.forward(inputs);
    return tf.stack([tf.cast(predict(logits), 'float32'), crossEntropy(logits, tf.oneHot(labels, model.numClasses) as tf.Tensor2D)]);
  });
  const [cleanPred, cleanCe] = (await clean.array()) as number[][];
  clean.dispose();
  const bestLoss = [...cleanCe];
  const diagnostics = () => ({ featureBudget: new Array<number>(B).fill(k), iterations, maskResets, bestLoss });
  const attacked = cleanPred.map((_, i) => i).filter((i) => cleanPred[i] === y[i] && k > 0);
  if (attacked.length === 0) return { adversarials: tf.tensor4d(out, [B, H, W, C]), diagnostics: diagnostics() };

  // random start, drawn for the whole batch (as the reference draws it before selecting)
  const start = tf.tidy(() => {
    const x = inputs.reshape([B, d]);
    const p = o.randomStart ? tf.randomUniform([B, d], -o.epsilon, o.epsilon, 'float32', nextSeed()) : tf.zeros([B, d]);
    const m = tf.randomNormal([B, d], 0, 1, 'float32', nextSeed());
    const idx = tf.tensor1d(attacked, 'int32');
    const xA = tf.gather(x, idx) as tf.Tensor2D;
    const yA = tf.gather(labels, idx) as tf.Tensor1D;
    return {
      x: xA,
      y: yA,
      oneHot: tf.oneHot(yA, model.numClasses).toFloat() as tf.Tensor2D,
      p: tf.minimum(tf.maximum(tf.gather(p, idx), tf.neg(xA)), tf.sub(1, xA)) as tf.Tensor2D,
      m: tf.gather(m, idx) as tf.Tensor2D,
    };
  });
  const first = evaluate(model, { ...start, ids: attacked, gp: start.p, gm: start.p, unchanged: [] }, k, shape, o.unprojectedGradient);
  tf.dispose([first.xAdv, first.mask, first.logits]);
  let a: Active = { ...start, ids: attacked, gp: first.gp, gm: first.gm, unchanged: attacked.map(() => 0) };

  for (let it = 1; it <= o.steps && a.ids.length > 0; it++) {
    const prevMask = topkMask(a.m, k);
    const moved = update(a, o, d);
    tf.dispose([a.p, a.m, a.gp, a.gm]);
    a.p = moved.p;
    a.m = moved.m;
    const ev = evaluate(model, a, k, shape, o.unprojectedGradient);
    a.gp = ev.gp;
    a.gm = ev.gm;
    const stats = tf.tidy(() => {
      const fooled = tf.cast(tf.notEqual(predict(ev.logits), a.y), 'float32');
      const changed = tf.sum(tf.abs(tf.sub(ev.mask, prevMask)), 1);
      return tf.stack([fooled, crossEntropy(ev.logits, a.oneHot), changed]);
    });
    const [fooled, ce, changed] = (await stats.array()) as number[][];
    tf.dispose([stats, prevMask, ev.mask, ev.logits]);

    const keep: number[] = [];
    const success: number[] = [];
    const reset: number[] = [];
    a.ids.forEach((s, r) => {
      iterations[s] = it;
      if (ce[r] >= bestLoss[s]) bestLoss[s] = ce[r];
      if (fooled[r] === 1) return void success.push(r);
      keep.push(r);
      a.unchanged[r] = changed[r] === 0 ? a.unchanged[r] + 1 : 0;
      if (a.unchanged[r] >= o.patience) {
        reset.push(r);
        a.unchanged[r] = 0;
        maskResets[s]++;
      }
    });
    if (success.length > 0) {
      const rows = tf.tidy(() => tf.gather(ev.xAdv, tf.tensor1d(success, 'int32')));
      const values = await rows.data();
      rows.dispose();
      success.forEach((r, j) => out.set(values.subarray(j * d, (j + 1) * d), a.ids[r] * d));
    }
    ev.xAdv.dispose();
    if (reset.length > 0) {
      const m = tf.tidy(() => {
        const isReset = tf.tensor1d(a.ids.map((_, r) => reset.includes(r)), 'bool').reshape([a.ids.length, 1]);
        const fresh = tf.randomNormal(a.m.shape, 0, 1, 'float32', nextSeed());
        return tf.where(tf.broadcastTo(isReset, a.m.shape), fresh, a.m) as tf.Tensor2D;
      });
      a.m.dispose();
      a.m = m;
    }
    if (success.length > 0) a = keepRows(a, keep);
    if (it % 10 === 0) await yieldToEventLoop();
  }
  disposeState(a);
  return { adversarials: tf.tensor4d(out, [B, H, W, C]), diagnostics: diagnostics() };
}

export const spgdAttack = defineAttack({
  name: 'spgd',
  description: 'sparse-PGD (sPGD) in feature space: fixed budget k in FEATURES, ε = 1, unprojected gradient, random start',
  options: spgdOptionsSchema,
  budget: { option: 'k', unit: 'feature' },
  run: runSpgd,
});
