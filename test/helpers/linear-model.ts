/** A softmax-regression classifier on MNIST, trained deterministically in a few seconds, and its exact ℓ0 optimum. */
import * as tf from '@tensorflow/tfjs';
import { loadDataset } from '../../agent/data/registry.ts';
import { gather } from '../../agent/data/select.ts';
import { linearMinL0 } from './linear-oracle.ts';

export const D = 784;

export interface LinearSetup {
  net: tf.LayersModel;
  W: Float32Array;
  bias: Float32Array;
  xs: Float32Array;
  ys: Int32Array;
  optimum: number[];
}

export function trainLinear(n: number): LinearSetup {
  const train = loadDataset('mnist', 'train');
  const test = loadDataset('mnist', 'test');
  const trainIdx = Array.from({ length: 3000 }, (_, i) => i);
  const net = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10, kernelInitializer: 'zeros' })] });
  const tx = tf.tensor4d(gather(train.images, D, trainIdx), [3000, 28, 28, 1]);
  const ty = tf.oneHot(tf.tensor1d(Array.from(trainIdx, (i) => train.labels[i]), 'int32'), 10);
  const opt = tf.train.adam(0.01);
  for (let e = 0; e < 60; e++) tf.dispose(opt.minimize(() => tf.losses.softmaxCrossEntropy(ty, net.apply(tx) as tf.Tensor) as tf.Scalar, true)!);
  tf.dispose([tx, ty]);
  const [W, bias] = net.layers[1].getWeights().map((w) => w.dataSync() as Float32Array);
  const pred = tf.tidy(() => tf.argMax(net.predict(tf.tensor4d(test.images.subarray(0, 300 * D), [300, 28, 28, 1])) as tf.Tensor, 1).dataSync());
  const chosen: number[] = [];
  for (let i = 0; i < 300 && chosen.length < n; i++) if (pred[i] === test.labels[i]) chosen.push(i);
  const xs = gather(test.images, D, chosen);
  const ys = Int32Array.from(chosen, (i) => test.labels[i]);
  const optimum = chosen.map((_, k) => linearMinL0(W, bias, D, 10, xs.subarray(k * D, (k + 1) * D), ys[k]));
  return { net, W, bias, xs, ys, optimum };
}

export function l0Of(adv: Float32Array | Uint8Array | Int32Array, clean: Float32Array, i: number, d = D): number {
  let c = 0;
  for (let j = 0; j < d; j++) if (Math.fround(Number(adv[i * d + j]) - clean[i * d + j]) !== 0) c++;
  return c;
}
