/** Per-sample norms of flat [B, d] tensors, kept as [B, 1] so they divide rows directly. */
import * as tf from '@tensorflow/tfjs';

export type NormOrder = 'inf' | 1 | 2;

/** ‖row‖_p of every row, shape [B, 1]; callers guard against zero as their reference does (a floor or an ε). */
export function perSampleNorm(t: tf.Tensor2D, p: NormOrder): tf.Tensor2D {
  return tf.tidy(() => {
    if (p === 'inf') return tf.max(tf.abs(t), 1, true) as tf.Tensor2D;
    if (p === 1) return tf.sum(tf.abs(t), 1, true) as tf.Tensor2D;
    return tf.sqrt(tf.sum(tf.square(t), 1, true)) as tf.Tensor2D;
  });
}
