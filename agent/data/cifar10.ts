/**
 * CIFAR-10, "binary version" (cifar-10-batches-bin): data_batch_1.bin … data_batch_5.bin (train,
 * 50000 images) and test_batch.bin (test, 10000). Each file is 10000 records of 3073 bytes: the
 * label (0..9), then the 32×32 red plane, the green plane and the blue plane, each row-major.
 * Samples come out NHWC float32 in [0,1] (byte / 255, like torchvision's ToTensor; the model
 * importer transposes NCHW models, not the data).
 *
 * The file bytes stay in memory as read (30 MB per file) and samples are converted when asked
 * for, so an agent's threads do not each hold a float copy of the split; `images` (the whole split
 * as floats, for accuracy checks) is built on first use.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { DatasetFileError, type ImageDataset, type Split } from './dataset.ts';

export const CIFAR10_RECORD_BYTES = 3073;
export const CIFAR10_RECORDS_PER_FILE = 10_000;
const PIXELS = 1024;
const SAMPLE = 3 * PIXELS;

export const CIFAR10_FILES: Record<Split, string[]> = {
  train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
  test: ['test_batch.bin'],
};

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;

const ALL_FILES = [...CIFAR10_FILES.train, ...CIFAR10_FILES.test].join(', ');

/** The folder holding the .bin files: `dir` itself, or its `cifar-10-batches-bin` (where the archive unpacks). */
function batchesDir(dir: string): string {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new DatasetFileError(dir, `no such folder (expected the CIFAR-10 binary version: ${ALL_FILES})`);
  const inner = path.join(dir, 'cifar-10-batches-bin');
  return !existsSync(path.join(dir, CIFAR10_FILES.test[0])) && existsSync(inner) ? inner : dir;
}

/** The split's files, each checked to be there and to hold exactly 10000 records. */
function splitFiles(dir: string, split: Split): string[] {
  const base = batchesDir(dir);
  return CIFAR10_FILES[split].map((name) => {
    const file = path.join(base, name);
    if (!existsSync(file)) throw new DatasetFileError(file, `missing: CIFAR-10 ${split} needs ${CIFAR10_FILES[split].join(', ')} (the binary version, cifar-10-batches-bin)`);
    checkSize(file, statSync(file).size);
    return file;
  });
}

function checkSize(file: string, size: number): void {
  const expected = CIFAR10_RECORDS_PER_FILE * CIFAR10_RECORD_BYTES;
  if (size === expected) return;
  const whole = size % CIFAR10_RECORD_BYTES === 0;
  throw new DatasetFileError(
    file,
    `${size} bytes; a CIFAR-10 batch file is ${CIFAR10_RECORDS_PER_FILE} records of ${CIFAR10_RECORD_BYTES} bytes (${expected} bytes)` +
      (whole ? `, this one holds ${size / CIFAR10_RECORD_BYTES} records` : `, and ${size} is not a whole number of records (truncated or not CIFAR-10 binary)`),
  );
}

/** The number of samples of the split, from the file sizes (nothing read). */
export function probeCifar10(dir: string, split: Split): number {
  return splitFiles(dir, split).length * CIFAR10_RECORDS_PER_FILE;
}

/** byte → float32 in [0,1], computed as the MNIST reader does (v / 255 rounded to float32) */
const UNIT = Float32Array.from({ length: 256 }, (_, v) => v / 255);

/** Record `r` of `buf` (planar CHW bytes) into `out` at `at`, interleaved HWC. */
function decodeRecord(buf: Uint8Array, r: number, out: Float32Array, at: number): void {
  const red = r * CIFAR10_RECORD_BYTES + 1;
  for (let p = 0; p < PIXELS; p++) {
    out[at + 3 * p] = UNIT[buf[red + p]];
    out[at + 3 * p + 1] = UNIT[buf[red + PIXELS + p]];
    out[at + 3 * p + 2] = UNIT[buf[red + 2 * PIXELS + p]];
  }
}

/** One split in memory as file bytes; labels checked (0..9) on reading. */
export function readCifar10(dir: string, split: Split): ImageDataset {
  const files = splitFiles(dir, split);
  const buffers = files.map((file) => {
    const buf = readFileSync(file);
    checkSize(file, buf.length); // the file may have changed since it was listed
    return buf;
  });
  const count = buffers.length * CIFAR10_RECORDS_PER_FILE;
  const labels = new Int32Array(count);
  buffers.forEach((buf, f) => {
    for (let r = 0; r < CIFAR10_RECORDS_PER_FILE; r++) {
      const v = buf[r * CIFAR10_RECORD_BYTES];
      if (v > 9) throw new DatasetFileError(files[f], `record ${r} (byte ${r * CIFAR10_RECORD_BYTES}) has label ${v}, outside 0..9: not a CIFAR-10 batch file (CIFAR-100's binary records are 3074 bytes)`);
      labels[f * CIFAR10_RECORDS_PER_FILE + r] = v;
    }
  });
  const into = (indices: readonly number[]): Float32Array => {
    const out = new Float32Array(indices.length * SAMPLE);
    indices.forEach((i, k) => {
      if (!Number.isInteger(i) || i < 0 || i >= count) throw new RangeError(`sample index ${i} is outside cifar10/${split} (0..${count - 1})`);
      decodeRecord(buffers[Math.floor(i / CIFAR10_RECORDS_PER_FILE)], i % CIFAR10_RECORDS_PER_FILE, out, k * SAMPLE);
    });
    return out;
  };
  let images: Float32Array | undefined;
  return {
    name: 'cifar10',
    split,
    sampleShape: [32, 32, 3],
    count,
    labels,
    numClasses: 10,
    samples: async (indices) => into(indices),
    get images() {
      return (images ??= into(Array.from({ length: count }, (_, i) => i)));
    },
  };
}
