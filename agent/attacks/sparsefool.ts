/**
 * SparseFool (Modas, Moosavi-Dezfooli & Frossard, CVPR 2019) with its DeepFool inner loop, as
 * torchattacks implements it (Harry24k/adversarial-attacks-pytorch `torchattacks/attacks/
 * sparsefool.py`, `deepfool.py`, "modified from LTS4/SparseFool") and σ-zero's `sparsefool`
 * wrapper calls it (steps 20, λ 3, overshoot 0.02); spec shared/spec/attacks.md §4.8.
 *
 * Outer step, for every sample not yet fooled (batched over those samples; the reference loops
 * one sample at a time):
 *  1. forward at the current point (1F); misclassified → done, the point is kept;
 *  2. DeepFool from the current point, at most `deepfoolSteps` passes; each pass: forward (1F),
 *     misclassified → stop with t = its prediction; else the K class gradients, l = argmin over
 *     classes ≠ y of |f_l − f_y| / ‖∇f_l − ∇f_y‖₂ (first on ties), x ← clip(x + 1.02·r, 0, 1) with
 *     r = |f_l − f_y|·w/‖w‖₂², w = ∇f_l − ∇f_y; t = l. DeepFool's own overshoot is 0.02 whatever
 *     `overshoot` is (torchattacks builds `DeepFool(model)` with its defaults);
 *  3. x_B' = x0 + λ(x_B − x0) (not clipped, as in the reference);
 *  4. at x_B' (1F + 1B): t ← pred(x_B') when it is not y; normal w = ∇(f_t − f_y)/‖·‖₂;
 *  5. linear solver from x_i = x0 (per sample, on Float32Array/float64, sequential over features):
 *     β = 0.001·sign(w·(x0 − x_B')); while the sign of w·(x_i − x_B') has not changed and some
 *     coordinate with w_j ≠ 0 remains: j = remaining argmax |w_j| (first in the reference's NCHW
 *     order on ties), x_i[j] ← clip(x_i[j] + max(|w·(x_i − x_B') + β| / |w_j|, 1e−4)·sign(w_j)),
 *     remove j;
 *  6. new point = clip(x0 + (1 + overshoot)(x_i − x0), 0, 1).
 * The outer loop stops when every sample is fooled or after `steps` outer steps.
 *
 * The class Jacobian (step 2) is ONE batched backward per class k (Classifier.backwardAt, through
 * the pass's forward, as the reference's retain_graph backwards) over the DeepFool-active
 * samples, with the loss Σ_i (f_k(x_i) − f_{y_i}(x_i)): its gradient row i is w_k of sample i
 * directly (the reference takes the K gradients ∇f_k and subtracts ∇f_y; the call with k = y_i is
 * the reference's ∇f_y backward, so the count is the same K backwards), and the argmin is kept
 * streaming, so memory is O(n·d), never a K×d Jacobian.
 *
 * Queries, per sample (the metered model counts a forward/backward of n samples as n):
 *   backwards = Σ_outer (1 + K·s)                   — exactly the spec's 1B + K·B per DeepFool pass;
 *   forwards  = Σ_outer (2 + s + [DeepFool fooled it]) + 1,
 * where s is the number of DeepFool passes that computed a Jacobian and the "+ 1" is the outer
 * check that ends the sample's run (it finds the point fooled, or it is the final check below); an
 * input already misclassified costs that 1F only and comes back unchanged. Diagnostics report
 * `sparsefoolSteps` (outer steps that ran DeepFool + solver), `deepfoolSteps` (Σ s) and
 * `deepfoolSuccesses`, so forwards = 1 + 2·sparsefoolSteps + deepfoolSteps + deepfoolSuccesses and
 * backwards = sparsefoolSteps + K·deepfoolSteps: the spec's 2F + 1B per outer step and 1F + K·B
 * per DeepFool pass.
 *
 * Deviations from the reference (say them when comparing numbers):
 *  - Failures return x, not the last perturbed point (the reference returns its last iterate,
 *    adversarial or not, and never checks the point made by the last outer step). To know which
 *    samples failed, one forward checks the samples still unresolved when the outer steps run
 *    out (1F each, beyond the spec's count; the reference stops without it). So forwards here =
 *    the spec's count + [unresolved after the last outer step]; backwards are the spec's.
 *  - Degenerate geometry, where the reference produces NaN: a DeepFool pass with no finite
 *    |f_l − f_y|/‖w_l‖ (all w_l = 0) does not move; a zero normal at x_B' gives a solver with no
 *    coordinate to move (the point becomes x0 + 0). NaN ratios are never the argmin.
 *  - Float rounding: w_l is the gradient of f_l − f_y rather than a difference of two gradients;
 *    the solver keeps w·(x_i − x_B') in float64, updated per coordinate, where the reference
 *    recomputes a float32 dot product each iteration.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { AttackResult, Classifier } from './types.ts';
import { predict } from './losses.ts';
import { perSampleNorm } from './norms.ts';
import { defineAttack, yieldToEventLoop } from './define.ts';

export const sparsefoolOptionsSchema = z
  .object({
    /** outer SparseFool steps (the sweep's step budget; σ-zero's wrapper uses 20, torchattacks 10) */
    steps: z.number().int().min(1).default(20),
    /** λ: how far beyond the DeepFool point the boundary point x_B' is taken */
    lam: z.number().positive().default(3),
    /** overshoot of the linear solver's result (step 6) */
    overshoot: z.number().min(0).default(0.02),
    /** DeepFool passes per outer step */
    deepfoolSteps: z.number().int().min(1).default(50),
  })
  .strict();
export type SparsefoolOptions = z.input<typeof sparsefoolOptionsSchema>;
type Resolved = z.output<typeof sparsefoolOptionsSchema>;

/** torchattacks' DeepFool default overshoot; SparseFool builds its DeepFool with the defaults. */
const DEEPFOOL_OVERSHOOT = 0.02;
const SOLVER_BETA = 0.001;
const SOLVER_MIN_STEP = 1e-4;

/** Direct use (tests, library callers): options validated here; sweeps bind them once (define.ts). */
export function sparsefool(model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, options: SparsefoolOptions = {}): Promise<AttackResult> {
  return runSparsefool(model, inputs, labels, sparsefoolOptionsSchema.parse(options));
}

/** Rows `idx` of a host batch of [d]-sized samples, as an NHWC tensor. */
function rowsTensor(data: Float32Array, idx: number[], shape: [number, number, number]): tf.Tensor4D {
  const d = shape[0] * shape[1] * shape[2];
  const out = new Float32Array(idx.length * d);
  idx.forEach((i, k) => out.set(data.subarray(i * d, (i + 1) * d), k * d));
  return tf.tensor4d(out, [idx.length, ...shape]);
}

/** Predictions of the model at rows `idx` of a host batch (1F per row). */
async function predictRows(model: Classifier, data: Float32Array, idx: number[], shape: [number, number, number]): Promise<Int32Array> {
  const p = tf.tidy(() => predict(model.forward(rowsTensor(data, idx, shape))));
  const out = Int32Array.from(await p.data());
  p.dispose();
  return out;
}

/** `full` with its rows `idx` replaced by `rows` (a new tensor; the inputs stay). */
function replaceRows(full: tf.Tensor4D, idx: number[], rows: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const n = full.shape[0];
    const mask = new Array<number>(n).fill(0);
    idx.forEach((i) => (mask[i] = 1));
    const scattered = tf.scatterND(tf.tensor2d(idx, [idx.length, 1], 'int32'), rows, full.shape);
    const keep = tf.tensor1d(mask, 'bool').reshape([n, 1, 1, 1]);
    return tf.where(tf.broadcastTo(keep, full.shape), scattered, full) as tf.Tensor4D;
  });
}

/**
 * One DeepFool pass on samples x (all correctly classified, logits known): K class gradients, the
 * streaming argmin of |f_l − f_y|/‖w_l‖₂ over l ≠ y, and the clipped overshooting step.
 * Queries: K backwards of the batch through the pass's forward (K·B per sample).
 */
function deepfoolPass(model: Classifier, x: tf.Tensor4D, logits: tf.Tensor2D, y: Int32Array): { next: tf.Tensor4D; cls: tf.Tensor1D } {
  const [n, H, W, C] = x.shape;
  const d = H * W * C;
  const K = model.numClasses;
  const yT = tf.tensor1d(y, 'int32');
  const yOneHot = tf.tidy(() => tf.oneHot(yT, K).toFloat());
  const fy = tf.tidy(() => tf.sum(tf.mul(logits, yOneHot), 1));
  let bestVal: tf.Tensor1D = tf.fill([n], Infinity) as tf.Tensor1D;
  let bestAbsF: tf.Tensor1D = tf.zeros([n]) as tf.Tensor1D;
  let bestW: tf.Tensor2D = tf.zeros([n, d]) as tf.Tensor2D;
  // torch.min over all-infinite ratios answers the first class ≠ y
  let bestCls: tf.Tensor1D = tf.tensor1d(Array.from(y, (c) => (c === 0 ? 1 : 0)), 'int32');
  for (let k = 0; k < K; k++) {
    // one more backward through the pass's forward (the reference's retain_graph): 1B per sample
    const grad = tf.tidy(() => model.backwardAt(x, (l) => tf.sum(tf.sub(l.slice([0, k], [n, 1]).reshape([n]), tf.sum(tf.mul(l, yOneHot), 1))) as tf.Scalar));
    const next = tf.tidy(() => {
      const w = grad.reshape([n, d]) as tf.Tensor2D;
      const absF = tf.abs(tf.sub(logits.slice([0, k], [n, 1]).reshape([n]), fy)) as tf.Tensor1D;
      const val = tf.div(absF, perSampleNorm(w, 2).reshape([n])) as tf.Tensor1D;
      // NaN (0/0) compares false, so it is never the argmin; the class y itself is excluded
      const better = tf.logicalAnd(tf.less(val, bestVal), tf.notEqual(yT, k));
      return {
        val: tf.where(better, val, bestVal) as tf.Tensor1D,
        absF: tf.where(better, absF, bestAbsF) as tf.Tensor1D,
        w: tf.where(tf.broadcastTo(better.reshape([n, 1]), [n, d]), w, bestW) as tf.Tensor2D,
        cls: tf.where(better, tf.fill([n], k, 'int32'), bestCls) as tf.Tensor1D,
      };
    });
    tf.dispose([grad, bestVal, bestAbsF, bestW, bestCls]);
    ({ val: bestVal, absF: bestAbsF, w: bestW, cls: bestCls } = next);
  }
  const moved = tf.tidy(() => {
    const normSq = tf.sum(tf.square(bestW), 1, true);
    const delta = tf.div(tf.mul(bestAbsF.reshape([n, 1]), bestW), normSq);
    const safe = tf.where(tf.broadcastTo(tf.greater(normSq, 0), [n, d]), delta, tf.zerosLike(delta));
    return tf.clipByValue(tf.add(x, tf.mul(safe.reshape(x.shape), 1 + DEEPFOOL_OVERSHOOT)), 0, 1) as tf.Tensor4D;
  });
  tf.dispose([yT, yOneHot, fy, bestVal, bestAbsF, bestW]);
  return { next: moved, cls: bestCls };
}

interface DeepfoolResult {
  points: tf.Tensor4D;
  /** the last chosen class l, or the prediction once misclassified */
  target: Int32Array;
  /** passes that computed a Jacobian */
  jacobians: Int32Array;
  /** 1 when a pass found the point misclassified */
  fooled: Int32Array;
}

/** Batched DeepFool (torchattacks semantics) from `start`, at most `steps` passes. */
async function deepfool(model: Classifier, start: tf.Tensor4D, y: Int32Array, steps: number): Promise<DeepfoolResult> {
  const m = start.shape[0];
  let points = start.clone();
  const target = Int32Array.from(y);
  const jacobians = new Int32Array(m);
  const fooled = new Int32Array(m);
  let active = Array.from({ length: m }, (_, i) => i);
  for (let s = 0; s < steps && active.length; s++) {
    const xa = tf.gather(points, active) as tf.Tensor4D;
    const logits = tf.tidy(() => model.forward(xa));
    const predT = predict(logits);
    const pred = await predT.data();
    predT.dispose();
    const still: number[] = [];
    const stillPos: number[] = [];
    active.forEach((i, k) => {
      if (pred[k] !== y[i]) {
        target[i] = pred[k];
        fooled[i] = 1;
      } else {
        still.push(i);
        stillPos.push(k);
      }
    });
    if (still.length) {
      const pos = tf.tensor1d(stillPos, 'int32');
      const xs = tf.gather(xa, pos) as tf.Tensor4D;
      const ls = tf.gather(logits, pos) as tf.Tensor2D;
      const { next, cls } = deepfoolPass(model, xs, ls, Int32Array.from(still, (i) => y[i]));
      const chosen = await cls.data();
      still.forEach((i, k) => {
        target[i] = chosen[k];
        jacobians[i]++;
      });
      const updated = replaceRows(points, still, next);
      tf.dispose([pos, xs, ls, next, cls, points]);
      points = updated;
    }
    tf.dispose([xa, logits]);
    active = still;
    await yieldToEventLoop();
  }
  return { points, target, jacobians, fooled };
}

/**
 * x_B' = x0 + λ(x_B − x0) and the unit normal ∇(f_t − f_y)/‖·‖₂ there, t = pred(x_B') unless that is
 * y, else DeepFool's class (1F + 1B per sample). The class choice is made inside the loss from the
 * same forward, with one-hot arithmetic (argMax and oneHot pass zero gradients).
 */
function boundaryNormal(model: Classifier, x0: tf.Tensor4D, xB: tf.Tensor4D, y: Int32Array, target: Int32Array, lam: number): { boundary: tf.Tensor4D; normal: tf.Tensor2D } {
  const [n, H, W, C] = x0.shape;
  const K = model.numClasses;
  return tf.tidy(() => {
    const boundary = tf.add(x0, tf.mul(tf.sub(xB, x0), lam)) as tf.Tensor4D;
    const ohY = tf.oneHot(tf.tensor1d(y, 'int32'), K).toFloat();
    const ohTarget = tf.oneHot(tf.tensor1d(target, 'int32'), K).toFloat();
    const { logits, grad } = model.valueAndGrad(boundary, tf.zerosLike(boundary) as tf.Tensor4D, (l) => {
      const ohPred = tf.oneHot(predict(l), K).toFloat();
      const predIsY = tf.sum(tf.mul(ohPred, ohY), 1, true);
      const ohT = tf.add(tf.mul(ohPred, tf.sub(1, predIsY)), tf.mul(ohTarget, predIsY));
      return tf.sum(tf.mul(l, tf.sub(ohT, ohY))) as tf.Scalar;
    });
    logits.dispose();
    const g = grad.reshape([n, H * W * C]) as tf.Tensor2D;
    const norm = perSampleNorm(g, 2);
    const normal = tf.where(tf.broadcastTo(tf.greater(norm, 0), g.shape), tf.div(g, norm), tf.zerosLike(g)) as tf.Tensor2D;
    return { boundary, normal };
  });
}

/**
 * Coordinates with w_j ≠ 0, by |w_j| descending, ties in the reference's NCHW flat order
 * (our arrays are NHWC: index (h·W + w)·C + c is NCHW index c·H·W + h·W + w).
 */
function solverOrder(normal: Float32Array, shape: [number, number, number]): number[] {
  const [H, W, C] = shape;
  const nchw = (j: number) => (j % C) * H * W + Math.floor(j / C);
  const idx: number[] = [];
  for (let j = 0; j < normal.length; j++) if (normal[j] !== 0) idx.push(j);
  return idx.sort((a, b) => Math.abs(normal[b]) - Math.abs(normal[a]) || nchw(a) - nchw(b));
}

/**
 * SparseFool's linear solver (spec §4.8 step 5) for one sample: from x0, move the coordinates of
 * largest |w_j| one at a time towards the hyperplane w·(x − p) = 0 until its side changes or no
 * coordinate is left. Returns x_i (float32 values).
 */
export function linearSolver(x0: Float32Array, normal: Float32Array, plane: Float32Array, shape: [number, number, number]): Float32Array {
  const xi = Float32Array.from(x0);
  let f = 0; // w·(x_i − p), float64, updated per moved coordinate
  for (let j = 0; j < x0.length; j++) f += normal[j] * (x0[j] - plane[j]);
  const signTrue = Math.sign(f);
  const beta = SOLVER_BETA * signTrue;
  for (const j of solverOrder(normal, shape)) {
    const pert = Math.abs(f + beta) / Math.abs(normal[j]);
    const old = xi[j];
    xi[j] = Math.min(1, Math.max(0, Math.fround(old + Math.max(pert, SOLVER_MIN_STEP) * Math.sign(normal[j]))));
    f += normal[j] * (xi[j] - old);
    if (Math.sign(f) !== signTrue) break;
  }
  return xi;
}

/** Step 6: clip(x0 + (1 + overshoot)(x_i − x0), 0, 1) in float32. */
function overshootPoint(x0: Float32Array, xi: Float32Array, overshoot: number): Float32Array {
  const factor = Math.fround(1 + overshoot);
  const out = new Float32Array(x0.length);
  for (let j = 0; j < x0.length; j++) {
    const v = Math.fround(x0[j] + Math.fround(factor * Math.fround(xi[j] - x0[j])));
    out[j] = Math.min(1, Math.max(0, v));
  }
  return out;
}

export async function runSparsefool(model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, o: Resolved): Promise<AttackResult> {
  const [B, H, W, C] = inputs.shape;
  const shape: [number, number, number] = [H, W, C];
  const d = H * W * C;
  const y = Int32Array.from(await labels.data());
  const x0 = Float32Array.from(await inputs.data());
  const current = Float32Array.from(x0);
  const sparsefoolSteps = new Array<number>(B).fill(0);
  const deepfoolSteps = new Array<number>(B).fill(0);
  const deepfoolSuccesses = new Array<number>(B).fill(0);

  // samples not yet seen misclassified at a check; after the loop, those whose last point is unchecked
  let pending = Array.from({ length: B }, (_, i) => i);
  for (let step = 0; step < o.steps && pending.length; step++) {
    const pred = await predictRows(model, current, pending, shape);
    const running = pending.filter((_, k) => pred[k] === y[pending[k]]);
    pending = running;
    if (!running.length) break;
    const yr = Int32Array.from(running, (i) => y[i]);
    const start = rowsTensor(current, running, shape);
    const df = await deepfool(model, start, yr, o.deepfoolSteps);
    const x0r = rowsTensor(x0, running, shape);
    const { boundary, normal } = boundaryNormal(model, x0r, df.points, yr, df.target, o.lam);
    const planes = await boundary.data();
    const normals = await normal.data();
    tf.dispose([start, df.points, x0r, boundary, normal]);
    running.forEach((i, k) => {
      const clean = x0.subarray(i * d, (i + 1) * d);
      const xi = linearSolver(clean, normals.subarray(k * d, (k + 1) * d) as Float32Array, planes.subarray(k * d, (k + 1) * d) as Float32Array, shape);
      current.set(overshootPoint(clean, xi, o.overshoot), i * d);
      sparsefoolSteps[i]++;
      deepfoolSteps[i] += df.jacobians[k];
      deepfoolSuccesses[i] += df.fooled[k];
    });
    await yieldToEventLoop();
  }
  // the last outer step's points were never checked: check them once, failures return x
  if (pending.length) {
    const pred = await predictRows(model, current, pending, shape);
    pending.forEach((i, k) => {
      if (pred[k] === y[i]) current.set(x0.subarray(i * d, (i + 1) * d), i * d);
    });
  }
  return {
    adversarials: tf.tensor4d(current, [B, H, W, C]),
    diagnostics: { sparsefoolSteps, deepfoolSteps, deepfoolSuccesses },
  };
}

export const sparsefoolAttack = defineAttack({
  name: 'sparsefool',
  description: 'SparseFool (torchattacks, DeepFool inner loop): minimum-ℓ0, λ-scaled DeepFool boundary point + greedy linear solver',
  options: sparsefoolOptionsSchema,
  run: runSparsefool,
});
