/**
 * Loss heads: an optional annotation on a LossFn that says what the function computes, so an engine
 * may compute its gradient another way (the ONNX Runtime engine computes the logits' cotangent
 * inside its gradient graph and needs one run per step). Engines that ignore it (the tfjs engine)
 * differentiate the function itself; test/ort-loss-heads.test.ts checks, for every annotated loss of
 * σ-zero, FMN and PGD-ℓ0, that the function's gradient equals the annotation's, so an annotation
 * can never silently disagree with the function it rides on.
 *
 * Meaning: loss(logits, δ) = scale · R_i h(logits_i, y_i) + delta(δ), where R is a sum or a mean
 * over the n samples of the batch and h is
 *   margin          f_y − max_{j≠y} f_j  (adv_lib difference_of_logits)
 *   margin-clamped  max(0, f_y − max_{j≠y} f_j)
 *   ce              −log softmax(f)_y
 */
import * as tf from '@tensorflow/tfjs';
import type { LossFn, LossHead } from './types.ts';
import { differenceOfLogits } from './losses.ts';

/** Attach a head annotation to a loss function (returns the same function). */
export function withHead(fn: (logits: tf.Tensor2D, delta: tf.Tensor4D) => tf.Scalar, head: LossHead): LossFn {
  return Object.assign(fn, { head });
}

/** The per-sample head term h(logits_i, y_i) in tfjs. */
export function headTerm(head: LossHead, logits: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    if (head.logits === 'ce') {
      const lsm = tf.logSoftmax(logits);
      return tf.neg(tf.sum(tf.mul(lsm, tf.oneHot(head.labels, logits.shape[1])), 1)) as tf.Tensor1D;
    }
    const m = differenceOfLogits(logits, head.labels);
    return (head.logits === 'margin-clamped' ? tf.relu(m) : m) as tf.Tensor1D;
  });
}

/** The annotated loss re-assembled from its head (tests compare it with the function itself). */
export function lossFromHead(head: LossHead): LossFn {
  return (logits, delta) =>
    tf.tidy(() => {
      const h = headTerm(head, logits);
      const r = head.reduction === 'mean' ? tf.mean(h) : tf.sum(h);
      const scaled = tf.mul(r, head.scale ?? 1) as tf.Scalar;
      return head.delta ? (tf.add(scaled, head.delta(delta)) as tf.Scalar) : scaled;
    });
}

/** The factor an engine multiplies the per-sample cotangent of h by: scale, divided by n for a mean. */
export function headScale(head: LossHead, n: number): number {
  return (head.scale ?? 1) / (head.reduction === 'mean' ? n : 1);
}
