/**
 * Fashion-MNIST (Zalando): 28×28 grey images of 10 kinds of clothing, in MNIST's IDX layout and
 * file names, gzip-compressed. Read from Debian's package `dataset-fashion-mnist` unless a spec
 * gives another folder holding the same four files.
 */
import { readIdxImageDataset, probeIdxImageDataset } from './mnist.ts';
import type { ImageDataset, Split } from './dataset.ts';

/** Where `apt-get install dataset-fashion-mnist` puts the files. */
export const FASHION_MNIST_DEBIAN_DIR = '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST_SIZES: Record<Split, number> = { train: 60_000, test: 10_000 };

/** Class index → name, as the dataset's README lists them. */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;

export function probeFashionMnist(dir: string, split: Split): number {
  return probeIdxImageDataset(dir, 'fashion-mnist', split, [28, 28], FASHION_MNIST_SIZES[split]);
}

export function readFashionMnist(dir: string, split: Split): ImageDataset {
  return readIdxImageDataset(dir, 'fashion-mnist', split);
}
