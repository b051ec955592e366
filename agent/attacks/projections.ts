/** Projections shared by the ℓ0 attacks (batched; per-sample parameters as tensors). */
import * as tf from '@tensorflow/tfjs';

/**
 * Per-sample value at 1-based descending rank `k` (clamped to ≥ 1) of each row of `v` [B, n]:
 * the threshold of a keep-the-top-k projection. `k` is a JS array of integers.
 */
export function kthLargest(v: tf.Tensor2D, k: number[]): tf.Tensor1D {
  return tf.tidy(() => {
    const [B, n] = v.shape;
    const ks = k.map((x) => Math.min(n, Math.max(1, Math.trunc(x))));
    const kmax = Math.max(...ks);
    const { values } = tf.topk(v, kmax, true);
    if (kmax === 1) return values.reshape([B]) as tf.Tensor1D; // tf.oneHot needs depth ≥ 2
    const pick = tf.oneHot(tf.tensor1d(ks.map((x) => x - 1), 'int32'), kmax);
    // values ≥ 0 in every use here, but a select keeps −∞/NaN out of the sum regardless
    return tf.sum(tf.where(tf.cast(pick, 'bool'), values, tf.zerosLike(values)), 1).reshape([B]) as tf.Tensor1D;
  });
}

/**
 * adv_lib `l0_projection_`: keep the entries with |δ| ≥ the k-th largest |δ| of the sample
 * (k = ε truncated, clamped to ≥ 1, so ε = 0 keeps the largest entry and its ties).
 */
export function l0ProjectFeatures(delta: tf.Tensor2D, eps: number[]): tf.Tensor2D {
  return tf.tidy(() => {
    const a = tf.abs(delta);
    const th = kthLargest(a, eps).reshape([delta.shape[0], 1]);
    return tf.where(tf.greaterEqual(a, th), delta, tf.zerosLike(delta)) as tf.Tensor2D;
  });
}

/** δ ← clip(x + δ, 0, 1) − x */
export function boxDelta(x: tf.Tensor, delta: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sub(tf.clipByValue(tf.add(x, delta), 0, 1), x));
}
