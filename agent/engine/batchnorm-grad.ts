/**
 * FusedBatchNorm gradient without the full-size Tile.
 *
 * tfjs's gradient (tfjs-core gradients/FusedBatchNorm_grad) computes dx = (dy · tile(rsqrt(var+ε)))
 * · scale, materialising the per-channel factor at the full activation size, and it computes
 * x − mean and dy · scale at full size up front even when only dx is wanted (an attack needs only
 * dx: the tape prunes the other inputs, but those two products are made before the pruning can
 * help). Here the factor broadcasts, and the other partial derivatives are made only on demand,
 * with the stock formulas. The multiplications are the same float32 operations in the same order,
 * so dx is bit-identical to the stock gradient (checked in test/engine-overrides.test.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { overridesEnabled, registerGradientOverride } from './kernel-override.ts';

let stock: tf.GradConfig | undefined;

function gradFunc(dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) {
  if (!overridesEnabled()) return stock!.gradFunc(dy, saved, attrs);
  const g = dy as tf.Tensor;
  const eps = (attrs as { varianceEpsilon: number }).varianceEpsilon;
  const [x, mean, variance, scale] = saved;
  const scaleValue = scale == null ? tf.scalar(1) : scale;
  const reductionAxes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
  const perChannel = mean.rank === 1;
  const reduce = (t: tf.Tensor) => (perChannel ? tf.sum(t, reductionAxes) : t);
  const oneOverSqrtVariance = tf.rsqrt(tf.add(variance, tf.scalar(eps)));
  return {
    x: () => tf.reshape(tf.mul(tf.mul(g, oneOverSqrtVariance), scaleValue), x.shape),
    mean: () => tf.reshape(reduce(tf.mul(tf.mul(oneOverSqrtVariance, tf.scalar(-1)), tf.mul(g, scaleValue))), mean.shape),
    variance: () => {
      const minusHalfRCube = tf.mul(tf.mul(tf.mul(oneOverSqrtVariance, oneOverSqrtVariance), oneOverSqrtVariance), tf.scalar(-0.5));
      return tf.reshape(reduce(tf.mul(tf.mul(minusHalfRCube, tf.sub(x, mean)), tf.mul(g, scaleValue))), mean.shape);
    },
    scale: () => tf.reshape(reduce(tf.mul(g, tf.mul(tf.sub(x, mean), oneOverSqrtVariance))), mean.shape),
    offset: () => tf.reshape(reduce(g), mean.shape),
  };
}

export function installBatchNormOverride(): void {
  if (stock) return;
  stock = tf.getGradient('FusedBatchNorm');
  if (!stock) throw new Error('tfjs has no registered FusedBatchNorm gradient to wrap');
  registerGradientOverride({ kernelName: 'FusedBatchNorm', inputsToSave: ['x', 'mean', 'variance', 'scale'], gradFunc });
}
