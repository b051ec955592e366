import * as tf from '@tensorflow/tfjs';
import type { ImageDataset } from '../data/dataset.ts';
import { predict } from '../attacks/losses.ts';

/** Fraction of `ds` the model classifies correctly (argmax of logits), in batches. */
export async function cleanAccuracy(model: tf.LayersModel, ds: ImageDataset, batch = 500): Promise<number> {
  const [h, w, c] = ds.sampleShape;
  const d = h * w * c;
  let correct = 0;
  for (let b = 0; b < ds.count; b += batch) {
    const n = Math.min(batch, ds.count - b);
    const pred = tf.tidy(() => predict(model.predict(tf.tensor4d(ds.images.subarray(b * d, (b + n) * d), [n, h, w, c])) as tf.Tensor2D));
    const p = await pred.data();
    pred.dispose();
    for (let i = 0; i < n; i++) if (p[i] === ds.labels[b + i]) correct++;
  }
  return correct / ds.count;
}
