/**
 * Loss-head annotations (attacks/loss-head.ts) can never silently disagree with the functions they
 * ride on: every annotated loss that σ-zero, FMN and PGD-ℓ0 actually pass to the classifier is
 * captured, and the tfjs gradient of the function itself (with respect to the logits and δ) must
 * equal the gradient of the annotation's decomposition scale·R_i h(logits_i, y_i) + delta(δ).
 * The losses are evaluated on logits and perturbations other than the attack's own, so that a
 * wrong head kind, label tensor, reduction or scale shows.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../agent/engine/backend.ts';
import { MeteredModel } from '../agent/engine/metered-model.ts';
import type { Classifier, LossFn, LossHead } from '../agent/attacks/types.ts';
import { headScale, lossFromHead, withHead } from '../agent/attacks/loss-head.ts';
import { differenceOfLogits } from '../agent/attacks/losses.ts';
import { sigmaZero } from '../agent/attacks/sigma-zero.ts';
import { fmnL0 } from '../agent/attacks/fmn.ts';
import { pgdL0 } from '../agent/attacks/pgd-l0.ts';
import { buildSmallCnn } from '../agent/models/smallcnn.ts';

/**
 * A classifier that passes everything to a MeteredModel and checks every annotated loss it is
 * given, there and then (a loss may close over tensors the attack disposes when it returns).
 */
class Recorder implements Classifier {
  /** per loss given: its head kind (or null), the batch size, and the largest disagreement found */
  readonly seen: Array<{ head: LossHead | undefined; n: number; gap: number; valueGap: number }> = [];
  constructor(private readonly inner: MeteredModel) {}
  get inputShape() {
    return this.inner.inputShape;
  }
  get numClasses() {
    return this.inner.numClasses;
  }
  forward(x: tf.Tensor4D) {
    return this.inner.forward(x);
  }
  valueAndGrad(x: tf.Tensor4D, delta: tf.Tensor4D, loss: LossFn) {
    const n = x.shape[0];
    this.seen.push({ head: loss.head, n, ...(loss.head ? compare(loss, n, this.seen.length) : { gap: 0, valueGap: 0 }) });
    return this.inner.valueAndGrad(x, delta, loss);
  }
  backwardAt(x: tf.Tensor4D, loss: LossFn) {
    return this.inner.backwardAt(x, loss);
  }
}

/** Gradients of a loss with respect to (logits, δ). */
function grads(loss: LossFn, logits: tf.Tensor2D, delta: tf.Tensor4D): Float32Array[] {
  // zero terms keep both inputs on the tape for losses that ignore one of them
  const f = (l: tf.Tensor, d: tf.Tensor) => tf.addN([loss(l as tf.Tensor2D, d as tf.Tensor4D), tf.mul(0, tf.sum(l)), tf.mul(0, tf.sum(d))]) as tf.Scalar;
  return tf.grads(f)([logits, delta]).map((g) => g.dataSync() as Float32Array);
}

/**
 * The largest relative disagreement between the function's gradients (logits and δ) and its
 * head's, on logits with a clear runner-up and a perturbation with nonzero entries (not the
 * attack's own, so that a wrong head kind, label tensor, reduction or scale shows); and between values.
 */
function compare(loss: LossFn, n: number, seed: number): { gap: number; valueGap: number } {
  return tf.tidy(() => {
    const logits = tf.randomNormal([n, 10], 0, 3, 'float32', 100 + seed) as tf.Tensor2D;
    const delta = tf.randomUniform([n, 28, 28, 1], -0.5, 0.5, 'float32', 200 + seed) as tf.Tensor4D;
    const head = lossFromHead(loss.head!);
    const a = grads(loss, logits, delta);
    const b = grads(head, logits, delta);
    let gap = 0;
    for (let t = 0; t < 2; t++) for (let i = 0; i < a[t].length; i++) gap = Math.max(gap, Math.abs(a[t][i] - b[t][i]) / Math.max(1, Math.abs(a[t][i])));
    const valueGap = Math.abs(loss(logits, delta).dataSync()[0] - head(logits, delta).dataSync()[0]);
    return { gap, valueGap };
  });
}

let model: MeteredModel;
const B = 6;
let x: tf.Tensor4D;
let y: tf.Tensor1D;

beforeAll(async () => {
  await selectBackend('cpu');
  model = new MeteredModel(buildSmallCnn(5));
  x = tf.randomUniform([B, 28, 28, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
  y = tf.tensor1d([0, 1, 2, 3, 4, 5], 'int32');
});

function checkAll(rec: Recorder, expectHead: string): number {
  for (const s of rec.seen) {
    expect(s.head?.logits).toBe(expectHead);
    expect(s.gap).toBeLessThan(1e-6);
    expect(s.valueGap).toBeLessThan(1e-4);
  }
  return rec.seen.length;
}

describe('annotated losses equal their heads', () => {
  it('σ-zero: mean(relu(margin)) + mean(smooth ℓ0), every step (also with early stopping shrinking the batch)', async () => {
    const rec = new Recorder(model);
    tf.dispose((await sigmaZero(rec, x, y, { steps: 3 })).adversarials);
    tf.dispose((await sigmaZero(rec, x, y, { steps: 4, epsilonBudget: 784 })).adversarials);
    expect(checkAll(rec, 'margin-clamped')).toBeGreaterThanOrEqual(4);
    expect(rec.seen.every((s) => s.head!.delta && s.head!.reduction === 'mean')).toBe(true);
  });

  it('FMN: −Σ margin', async () => {
    const rec = new Recorder(model);
    tf.dispose((await fmnL0(rec, x, y, { steps: 3 })).adversarials);
    expect(checkAll(rec, 'margin')).toBe(3);
    expect(rec.seen[0].head!.scale).toBe(-1);
    expect(headScale(rec.seen[0].head!, B)).toBe(-1);
  });

  it('PGD-ℓ0: mean cross-entropy', async () => {
    const rec = new Recorder(model);
    tf.dispose((await pgdL0(rec, x, y, { steps: 3, k: 5, restarts: 1 })).adversarials);
    expect(checkAll(rec, 'ce')).toBeGreaterThanOrEqual(2);
    expect(headScale(rec.seen[0].head!, B)).toBeCloseTo(1 / B, 12);
  });

  it('a wrong annotation is caught by the same comparison (clamped margin annotated as unclamped; mean annotated as sum)', () => {
    const clamped = (lg: tf.Tensor2D) => tf.sum(tf.relu(differenceOfLogits(lg, y))) as tf.Scalar;
    expect(compare(withHead(clamped, { logits: 'margin', labels: y, reduction: 'sum' }), B, 1).gap).toBeGreaterThan(0.5);
    expect(compare(withHead(clamped, { logits: 'margin-clamped', labels: y, reduction: 'sum' }), B, 1).gap).toBeLessThan(1e-6);
    const mean = (lg: tf.Tensor2D) => tf.mean(differenceOfLogits(lg, y)) as tf.Scalar;
    expect(compare(withHead(mean, { logits: 'margin', labels: y, reduction: 'sum' }), B, 1).gap).toBeGreaterThan(0.5);
    expect(compare(withHead(mean, { logits: 'margin', labels: y, reduction: 'mean' }), B, 1).gap).toBeLessThan(1e-6);
  });
});
