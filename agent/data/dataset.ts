/** What every dataset reader returns, and what the registry knows of a dataset without reading it. */
import { PermanentError } from '../../schema/errors.ts';
import type { DatasetRef } from '../../schema/wire.ts';
import { gather } from './select.ts';

export type { DatasetRef };
export type Split = 'train' | 'test';
export const SPLITS: readonly Split[] = ['test', 'train'];

/**
 * One split as the agents read it: every label in memory, the samples on demand. ImageNet decodes
 * only the images asked for (50000 decoded images would not fit), so `samples` is asynchronous.
 */
export interface DatasetSplit {
  name: string;
  split: Split;
  /** [H, W, C] of one sample */
  sampleShape: [number, number, number];
  count: number;
  labels: Int32Array;
  numClasses: number;
  /** samples `indices` (in that order), float32 in [0,1], NHWC, one contiguous array: sample k at [k·d, (k+1)·d) */
  samples(indices: readonly number[]): Promise<Float32Array>;
}

/** A split in memory: float32 in [0,1], NHWC, flattened per sample (sample i at [i·d, (i+1)·d)). */
export interface ImageDataset extends DatasetSplit {
  /** count * H * W * C floats in [0,1] */
  images: Float32Array;
}

/** The fields a dataset entry of a spec may carry besides name, split and samples. */
export type DatasetField = 'path' | 'labels' | 'classes' | 'resize';

/** One registry entry: the facts the validator and planner need, and the readers the agents use. */
export interface DatasetInfo {
  name: string;
  description: string;
  /** the splits it has, with their sample count where the format fixes it (null: counted from the files) */
  splits: Readonly<Partial<Record<Split, number | null>>>;
  sampleShape: [number, number, number];
  numClasses: number;
  /** the spec fields it takes, each with what it means (for problems and the spec documentation) */
  fields: Readonly<Partial<Record<DatasetField, string>>>;
  /** where the files are when the spec gives no path (undefined: path is required) */
  defaultPath?: () => string;
  /** the size of the test split the paper's sample lists index (agent/data/paper-samples.ts); none: no paper lists */
  paperN?: number;
  /**
   * Check the files cheaply (sizes and headers, a folder listing) and return the split's sample
   * count; throws DatasetFileError naming the file and what was expected.
   */
  probe(ref: DatasetRef): number;
  /** the split for an agent (labels in memory, samples on demand) */
  open(ref: DatasetRef): Promise<DatasetSplit>;
  /** the whole split in memory, for datasets small enough (MNIST, Fashion-MNIST, CIFAR-10) */
  load?(ref: DatasetRef): ImageDataset;
}

/**
 * A dataset file or folder that is missing, mis-sized or corrupt. Bad input when a command meets
 * it (exit 2), permanent when a task does (no retry reads it better). `field` is the spec field
 * that pointed at it (path, labels, classes).
 */
export class DatasetFileError extends PermanentError {
  readonly badInput = true as const;
  constructor(
    readonly file: string,
    detail: string,
    readonly field: 'path' | 'labels' | 'classes' = 'path',
  ) {
    super(`${file}: ${detail}`);
    this.name = 'DatasetFileError';
  }
}

/** An in-memory split with its `samples` method. */
export function inMemoryDataset(d: Omit<ImageDataset, 'samples'>): ImageDataset {
  const size = d.sampleShape[0] * d.sampleShape[1] * d.sampleShape[2];
  return { ...d, samples: async (indices) => gather(d.images, size, indices) };
}
