/** Datasets by name (the names sweep specs use). */
import { loadMnist, type ImageDataset, type Split } from './mnist.ts';

export class UnknownDatasetError extends Error {
  constructor(name: string) {
    super(`unknown dataset '${name}' (known: mnist)`);
    this.name = 'UnknownDatasetError';
  }
}

export function loadDataset(name: string, split: Split): ImageDataset {
  if (name === 'mnist') return loadMnist(split);
  throw new UnknownDatasetError(name);
}
