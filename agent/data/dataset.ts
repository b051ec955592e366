/** What every dataset reader returns, and what the registry knows of a dataset without reading it. */
export type Split = 'train' | 'test';
export const SPLITS: readonly Split[] = ['test', 'train'];

/** A split in memory: float32 in [0,1], NHWC, flattened per sample (sample i at [i·d, (i+1)·d)). */
export interface ImageDataset {
  name: string;
  split: Split;
  /** [H, W, C] of one sample */
  sampleShape: [number, number, number];
  count: number;
  /** count * H * W * C floats in [0,1] */
  images: Float32Array;
  labels: Int32Array;
  numClasses: number;
}

/** One registry entry: the facts the validator and planner need, and the reader the agents use. */
export interface DatasetInfo {
  name: string;
  description: string;
  /** number of samples per split */
  splits: Readonly<Record<Split, number>>;
  sampleShape: [number, number, number];
  numClasses: number;
  /** read one split (from files shipped in a package or given by the user); the registry caches it */
  read(split: Split): ImageDataset;
}
