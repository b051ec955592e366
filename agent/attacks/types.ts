/**
 * The attack contract (design.md): an attack is a plain async function of a classifier, a batch of
 * clean inputs in [0,1] (NHWC), their labels and options. It returns the adversarial candidates;
 * the evaluator, not the attack, decides success from a fresh forward on what is returned.
 */
import type * as tf from '@tensorflow/tfjs';

/** A loss of the logits at x + δ (and of δ itself, for distance terms), differentiated with respect to δ. */
export type LossFn = ((logits: tf.Tensor2D, delta: tf.Tensor4D) => tf.Scalar) & {
  /**
   * Optional: what the function computes, for engines that compute its gradient another way
   * (attacks/loss-head.ts: loss = scale · R_i h(logits_i, y_i) + delta(δ)). Engines may ignore it.
   */
  head?: LossHead;
};

/** The logits part of an annotated loss (attacks/loss-head.ts `withHead`). */
export interface LossHead {
  /** h: f_y − max_{j≠y} f_j, its positive part, or the cross-entropy −log softmax(f)_y */
  logits: 'margin' | 'margin-clamped' | 'ce';
  /** y, one per sample of the batch the loss is evaluated on */
  labels: tf.Tensor1D;
  /** R: sum or mean over the batch */
  reduction: 'sum' | 'mean';
  /** multiplies R (default 1; FMN minimises −margin: −1) */
  scale?: number;
  /** the term of δ alone (σ-zero's smooth ℓ0), differentiated by the engine's tfjs */
  delta?: (delta: tf.Tensor4D) => tf.Scalar;
}

/** What an attack may do with the model. The engine's implementation counts every call per sample. */
export interface Classifier {
  /** [H, W, C] of one input */
  readonly inputShape: [number, number, number];
  readonly numClasses: number;
  /** Logits of a batch; counts n forwards. */
  forward(x: tf.Tensor4D): tf.Tensor2D;
  /**
   * Logits at x + delta and the gradient of `loss(logits, delta)` with respect to delta
   * (one forward and one backward per sample of the batch).
   */
  valueAndGrad(x: tf.Tensor4D, delta: tf.Tensor4D, loss: LossFn): { logits: tf.Tensor2D; grad: tf.Tensor4D };
  /**
   * The gradient of `loss` with respect to the input at x, as one more backward through a forward
   * at x that the attack has already made and paid for (the reference keeps the graph and runs
   * several backwards, e.g. one per class for a Jacobian): counts one backward per sample, no
   * forward. The engine may recompute the forward; the query count follows the reference.
   */
  backwardAt(x: tf.Tensor4D, loss: LossFn): tf.Tensor4D;
}

export interface AttackResult {
  /** returned inputs, same shape as the clean batch, inside [0,1] */
  adversarials: tf.Tensor4D;
  /** attack-specific per-sample diagnostics (plain numbers, JSON-serialisable) */
  diagnostics?: Record<string, number[]>;
}

export type Attack<O> = (model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, options: O) => Promise<AttackResult>;
