/**
 * Seeded training of the zoo model `mnist-smallcnn` on the MNIST training set.
 *
 *   npm run train:smallcnn -- [--epochs 3] [--seed 1] [--out agent/models/zoo/mnist-smallcnn]
 *
 * Adam (lr 1e-3, last epoch 1e-4; `--lr` overrides every epoch), batch 128, cross-entropy, no augmentation, shuffling from a
 * seeded PRNG. Runs on the wasm backend (filter gradients through the forward conv kernel, see
 * agent/engine/conv-grad.ts). Writes model.json + weights.bin and train-log.txt, evaluates clean
 * accuracy on the full 10k test set and prints the sha256 for the zoo manifest.
 */
import * as tf from '@tensorflow/tfjs';
import { writeFileSync, appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { selectBackend } from '../engine/backend.ts';
import { loadDataset } from '../data/registry.ts';
import { buildSmallCnn } from './smallcnn.ts';
import { loadLayersModelFolder, saveLayersModelFolder } from './io.ts';
import { mulberry32, shuffleInPlace } from '../attacks/rng.ts';
import { cleanAccuracy } from './accuracy.ts';

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '3' },
    seed: { type: 'string', default: '1' },
    batch: { type: 'string', default: '128' },
    out: { type: 'string', default: 'agent/models/zoo/mnist-smallcnn' },
    lr: { type: 'string' },
    /** continue from the weights in this LayersModel folder instead of a fresh seeded init */
    init: { type: 'string' },
  },
});
const epochs = Number(values.epochs);
const seed = Number(values.seed);
const batch = Number(values.batch);
const out = values.out!;
mkdirSync(out, { recursive: true });
const logFile = path.join(out, 'train-log.txt');
if (!values.init) writeFileSync(logFile, '');
const log = (s: string) => {
  console.log(s);
  appendFileSync(logFile, s + '\n');
};

const backend = await selectBackend('wasm');
const train = loadDataset('mnist', 'train');
const test = loadDataset('mnist', 'test');
log(`mnist-smallcnn training: epochs=${epochs} seed=${seed} batch=${batch} lr=${values.lr ?? 'schedule'} init=${values.init ?? 'fresh'} backend=${backend.backend} tfjs=${tf.version.tfjs}`);
const model = values.init ? await loadLayersModelFolder(values.init) : buildSmallCnn(seed);
const rng = mulberry32(seed);
const order = Array.from({ length: train.count }, (_, i) => i);
const d = 28 * 28;
const t0 = performance.now();
for (let epoch = 0; epoch < epochs; epoch++) {
  const lr = values.lr ? Number(values.lr) : epoch === epochs - 1 && epochs > 1 ? 1e-4 : 1e-3;
  const opt = tf.train.adam(lr);
  shuffleInPlace(order, rng);
  let sum = 0;
  let n = 0;
  for (let b = 0; b < train.count; b += batch) {
    const idx = order.slice(b, b + batch);
    const xs = new Float32Array(idx.length * d);
    idx.forEach((i, k) => xs.set(train.images.subarray(i * d, (i + 1) * d), k * d));
    const ys = Int32Array.from(idx, (i) => train.labels[i]);
    const loss = tf.tidy(() => {
      const x = tf.tensor4d(xs, [idx.length, 28, 28, 1]);
      const y = tf.oneHot(tf.tensor1d(ys, 'int32'), 10);
      return opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true)!;
    });
    sum += (await loss.data())[0];
    loss.dispose();
    n++;
    if (n % 50 === 0) log(`epoch ${epoch + 1} step ${n} lr ${lr} mean-loss ${(sum / 50).toFixed(4)} elapsed ${((performance.now() - t0) / 1000).toFixed(0)}s`), (sum = 0);
  }
  opt.dispose();
  const acc = await cleanAccuracy(model, test);
  log(`epoch ${epoch + 1} done: test accuracy ${(100 * acc).toFixed(2)}% elapsed ${((performance.now() - t0) / 1000).toFixed(0)}s`);
}
const sha = await saveLayersModelFolder(model, out);
const acc = await cleanAccuracy(model, test);
log(`final clean accuracy on the 10000 MNIST test images: ${(100 * acc).toFixed(2)}%`);
log(`sha256 ${sha}`);
