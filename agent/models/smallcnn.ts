/**
 * The MNIST SmallCNN of the σ-zero evaluation (sigma0-advx `models/mnist/small_cnn.py`, the DDN/TRADES
 * architecture): conv3x3(32)-relu-conv3x3(32)-relu-maxpool2-conv3x3(64)-relu-conv3x3(64)-relu-
 * maxpool2-flatten-dense(200)-relu-dense(200)-relu-dense(10). Valid padding, inputs in [0,1],
 * NHWC [28, 28, 1]. The reference has dropout 0.5 before the last layer at training time only; we
 * train without it (eval-time behaviour is identical: dropout is the identity in eval mode).
 *
 * Note on flatten order: tfjs flattens NHWC (h, w, c) while PyTorch flattens NCHW (c, h, w);
 * irrelevant here because we train our own weights.
 */
import * as tf from '@tensorflow/tfjs';

export function buildSmallCnn(seed: number): tf.LayersModel {
  let s = seed;
  const init = () => tf.initializers.glorotUniform({ seed: s++ });
  const conv = (filters: number, inputShape?: [number, number, number]) =>
    tf.layers.conv2d({ filters, kernelSize: 3, padding: 'valid', activation: 'relu', kernelInitializer: init(), ...(inputShape ? { inputShape } : {}) });
  const dense = (units: number, activation: 'relu' | 'linear') => tf.layers.dense({ units, activation, kernelInitializer: init() });
  return tf.sequential({
    name: 'mnist_smallcnn',
    layers: [
      conv(32, [28, 28, 1]),
      conv(32),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      conv(64),
      conv(64),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      dense(200, 'relu'),
      dense(200, 'relu'),
      dense(10, 'linear'),
    ],
  });
}
