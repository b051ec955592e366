/** Loss helpers shared by the attacks (adv_lib `difference_of_logits` semantics). */
import * as tf from '@tensorflow/tfjs';

/**
 * f_y − max_{j≠y} f_j per sample. The "max other" masks the true class with −∞ (a select, not a
 * multiply, so no 0·∞ = NaN) and takes the max; the true-class logit is a gather at y.
 */
export function differenceOfLogits(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const numClasses = logits.shape[1];
    const isTrue = tf.cast(tf.oneHot(labels, numClasses), 'bool');
    const trueLogit = tf.sum(tf.where(isTrue, logits, tf.zerosLike(logits)), 1);
    const other = tf.max(tf.where(isTrue, tf.fill(logits.shape, -Infinity), logits), 1);
    return tf.sub(trueLogit, other) as tf.Tensor1D;
  });
}

/** argmax over classes (first index on ties), int32. */
export function predict(logits: tf.Tensor2D): tf.Tensor1D {
  return tf.argMax(logits, 1) as tf.Tensor1D;
}

/** Per-sample count of nonzero entries of a [B, ...] tensor (int32). */
export function countNonZero(t: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => tf.sum(tf.cast(tf.notEqual(t.reshape([t.shape[0], -1]), 0), 'int32'), 1) as tf.Tensor1D);
}
