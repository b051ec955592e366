/**
 * CIFAR-10 ResNet-18 (BasicBlocks [2, 2, 2, 2], widths 64-128-256-512, 3×3 stem without max-pool,
 * 4×4 average pool, dense 10) as a tfjs LayersModel, NHWC [32, 32, 3]. This is the architecture
 * of the CIFAR-10 ResNet-18s in the σ-zero evaluation (the RobustBench-style "kuangliu" layout):
 * conv → BatchNorm → ReLU, 1×1 stride-2 projection shortcuts where the shape changes.
 *
 * Used by `npm run bench:engine` (random weights: speed does not depend on them) and by the engine
 * tests, because it exercises what the SmallCNN does not: BatchNorm after linear convolutions,
 * stride-2 convolutions, residual additions and average pooling.
 */
import * as tf from '@tensorflow/tfjs';

/** `width` scales the four stages (64 = the standard ResNet-18; tests use narrower copies). */
export function buildResNet18(seed = 1, numClasses = 10, width = 64): tf.LayersModel {
  let s = seed;
  const init = () => tf.initializers.heNormal({ seed: s++ });
  const conv = (filters: number, kernelSize: number, strides: number) =>
    tf.layers.conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false, kernelInitializer: init() });
  // random but non-trivial BatchNorm statistics, so that the layer is not an identity
  const bn = () =>
    tf.layers.batchNormalization({
      axis: -1,
      epsilon: 1e-5,
      gammaInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: s++ }),
      betaInitializer: tf.initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: s++ }),
      movingMeanInitializer: tf.initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: s++ }),
      movingVarianceInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: s++ }),
    });
  const relu = () => tf.layers.reLU();

  const input = tf.input({ shape: [32, 32, 3] });
  let x = relu().apply(bn().apply(conv(width, 3, 1).apply(input))) as tf.SymbolicTensor;
  let cin = width;
  for (const [mult, stride] of [[1, 1], [2, 2], [4, 2], [8, 2]] as const) {
    const cout = mult * width;
    for (const st of [stride, 1]) {
      let out = relu().apply(bn().apply(conv(cout, 3, st).apply(x))) as tf.SymbolicTensor;
      out = bn().apply(conv(cout, 3, 1).apply(out)) as tf.SymbolicTensor;
      const short = st !== 1 || cin !== cout ? (bn().apply(conv(cout, 1, st).apply(x)) as tf.SymbolicTensor) : x;
      x = relu().apply(tf.layers.add().apply([out, short])) as tf.SymbolicTensor;
      cin = cout;
    }
  }
  x = tf.layers.averagePooling2d({ poolSize: 4 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: numClasses, kernelInitializer: init() }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits, name: 'cifar_resnet18' });
}
