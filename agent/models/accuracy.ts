import * as tf from '@tensorflow/tfjs';
import type { ImageDataset } from '../data/dataset.ts';
import { predict } from '../attacks/losses.ts';
import { asNet, type Net } from '../engine/net.ts';

/** Fraction of the first `count` samples of `ds` (default: all) the model classifies correctly (argmax of logits), in batches. */
export async function cleanAccuracy(model: Net | tf.LayersModel, ds: ImageDataset, batch = 500, count = ds.count): Promise<number> {
  const net = asNet(model);
  const [h, w, c] = ds.sampleShape;
  const d = h * w * c;
  const total = Math.min(count, ds.count);
  let correct = 0;
  for (let b = 0; b < total; b += batch) {
    const n = Math.min(batch, total - b);
    const pred = tf.tidy(() => predict(net.apply(tf.tensor4d(ds.images.subarray(b * d, (b + n) * d), [n, h, w, c]))));
    const p = await pred.data();
    pred.dispose();
    for (let i = 0; i < n; i++) if (p[i] === ds.labels[b + i]) correct++;
  }
  return correct / total;
}
