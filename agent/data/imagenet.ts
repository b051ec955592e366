/**
 * ImageNet validation images from a folder, read lazily: the listing (file names and labels) is
 * made once, and only the images a batch asks for are decoded (sharp: JPEG, PNG, WebP, TIFF),
 * converted to RGB and brought to 224×224 as the σ-zero evaluation did (agent/data/resize.ts):
 *
 *   resize '224'           Resize((224, 224)), bilinear: the aspect ratio is not kept (default)
 *   resize '256-crop-224'  Resize(256) + CenterCrop(224), torchvision's standard evaluation
 *
 * Two layouts:
 *   class sub-folders  path/<synset>/<image>: torchvision's ImageFolder order (folders sorted by
 *                      name give classes 0..999; images sorted per folder, sub-folders walked
 *                      in sorted order). A `classes` file (one folder name per line, first word,
 *                      in class order) maps folders to classes instead, and is needed when the
 *                      folder holds fewer than the 1000 class folders (sorted names would then
 *                      be the wrong class numbers).
 *   labels file        `<file> <class index>` per line (file relative to path; blank lines and
 *                      lines starting with # skipped): the samples in the file's line order.
 *                      Caffe's val.txt is such a file.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type SharpFunction from 'sharp';
import type { IMAGE_RESIZES } from '../../schema/wire.ts';
import { DatasetFileError, type DatasetRef, type DatasetSplit } from './dataset.ts';
import { centreCrop, resizeBilinear, shorterSideSize } from './resize.ts';

export type ImageResize = (typeof IMAGE_RESIZES)[number];
export const IMAGENET_CLASSES = 1000;
export const IMAGENET_VAL_SIZE = 50_000;
export const IMAGENET_SIDE = 224;

/** The file endings torchvision's ImageFolder takes as images (case-insensitive): the same files, the same indices. */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp'];
const isImage = (name: string) => IMAGE_EXTENSIONS.some((e) => name.toLowerCase().endsWith(e));

/** Python's sort of str (by code point), which JS's default comparison equals for these names. */
const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export interface ImagenetListing {
  files: string[];
  labels: Int32Array;
}

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();

function readLines(file: string, field: 'labels' | 'classes'): string[] {
  try {
    return readFileSync(file, 'utf8').split(/\r?\n/);
  } catch (e) {
    throw new DatasetFileError(file, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, field);
  }
}

/** Class folder names in class order, from a classes file (LOC_synset_mapping.txt or one name per line). */
function readClasses(file: string): Map<string, number> {
  const names = readLines(file, 'classes')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter(Boolean);
  const index = new Map<string, number>();
  names.forEach((n, i) => {
    if (index.has(n)) throw new DatasetFileError(file, `class '${n}' is listed twice (lines ${index.get(n)! + 1} and ${i + 1})`, 'classes');
    index.set(n, i);
  });
  if (names.length !== IMAGENET_CLASSES) throw new DatasetFileError(file, `names ${names.length} classes; ImageNet models have ${IMAGENET_CLASSES} (one folder name per line, in class order)`, 'classes');
  return index;
}

/** Directory entries split into sub-folders and files; symbolic links followed (one stat each, plain entries none). */
function entries(dir: string): { dirs: string[]; files: string[] } {
  const dirs: string[] = [];
  const files: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory() || (e.isSymbolicLink() && isDir(full))) dirs.push(e.name);
    else files.push(e.name);
  }
  return { dirs, files };
}

/** Image files under a class folder in sorted(os.walk(folder)) order, symbolic links followed. */
function walkImages(dir: string): string[] {
  const found: Array<{ dir: string; files: string[] }> = [];
  const visit = (d: string) => {
    const { dirs, files } = entries(d);
    found.push({ dir: d, files: files.filter(isImage).sort(byName) });
    for (const sub of dirs) visit(path.join(d, sub));
  };
  visit(dir);
  return found.sort((a, b) => byName(a.dir, b.dir)).flatMap(({ dir: d, files }) => files.map((f) => path.join(d, f)));
}

function listFolders(root: string, classesFile?: string): ImagenetListing {
  const folders = entries(root).dirs.sort(byName);
  if (folders.length === 0) throw new DatasetFileError(root, 'holds no class sub-folders (give `labels`, a `<file> <class index>` list, for a folder of images without sub-folders)');
  let classOf: (folder: string) => number;
  if (classesFile) {
    const classes = readClasses(classesFile);
    const unknown = folders.filter((f) => !classes.has(f));
    if (unknown.length) throw new DatasetFileError(root, `sub-folder${unknown.length > 1 ? 's' : ''} ${unknown.slice(0, 3).join(', ')}${unknown.length > 3 ? ` (and ${unknown.length - 3} more)` : ''} not named in the classes file ${classesFile}`);
    classOf = (f) => classes.get(f)!;
  } else {
    if (folders.length !== IMAGENET_CLASSES) {
      throw new DatasetFileError(
        root,
        `holds ${folders.length} class sub-folders; numbering classes by sorted folder name needs all ${IMAGENET_CLASSES} (give \`classes\`, the folder names in class order, to use fewer)`,
      );
    }
    classOf = (f) => folders.indexOf(f);
  }
  const files: string[] = [];
  const labels: number[] = [];
  for (const f of folders) {
    const cls = classOf(f);
    for (const file of walkImages(path.join(root, f))) files.push(file), labels.push(cls);
  }
  return { files, labels: Int32Array.from(labels) };
}

function listLabelsFile(root: string, labelsFile: string): ImagenetListing {
  const files: string[] = [];
  const labels: number[] = [];
  const seen = new Map<string, number>();
  const listings = new Map<string, Set<string>>();
  const exists = (file: string) => {
    const dir = path.dirname(file);
    let names = listings.get(dir);
    if (!names) listings.set(dir, (names = new Set(isDir(dir) ? readdirSync(dir) : [])));
    return names.has(path.basename(file));
  };
  readLines(labelsFile, 'labels').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const at = `line ${i + 1}`;
    const m = /^(.*\S)\s+(\S+)$/.exec(line);
    if (!m) throw new DatasetFileError(labelsFile, `${at}: '${line.slice(0, 60)}' is not '<file> <class index>'`, 'labels');
    const [, name, cls] = m;
    const label = /^\d+$/.test(cls) ? Number(cls) : NaN;
    if (!(label < IMAGENET_CLASSES)) throw new DatasetFileError(labelsFile, `${at}: class '${cls}' is not an index in 0..${IMAGENET_CLASSES - 1}`, 'labels');
    const file = path.resolve(root, name);
    if (seen.has(file)) throw new DatasetFileError(labelsFile, `${at}: ${name} is listed twice (first on line ${seen.get(file)})`, 'labels');
    if (!exists(file)) throw new DatasetFileError(file, `missing (listed on ${at} of ${labelsFile})`, 'labels');
    seen.set(file, i + 1);
    files.push(file);
    labels.push(label);
  });
  return { files, labels: Int32Array.from(labels) };
}

/** The images and labels a dataset entry names, checked (folders, labels and classes files; not the image bytes). */
export function listImagenet(ref: Pick<DatasetRef, 'path' | 'labels' | 'classes'>): ImagenetListing {
  const root = ref.path;
  if (!root) throw new DatasetFileError('(no path)', 'imagenet needs path: the folder of validation images');
  if (!isDir(root)) throw new DatasetFileError(root, 'no such folder (expected the ImageNet validation images: class sub-folders, or images listed by a labels file)');
  const listing = ref.labels ? listLabelsFile(root, ref.labels) : listFolders(root, ref.classes);
  if (listing.files.length === 0) throw new DatasetFileError(ref.labels ?? root, `no images (files ending ${IMAGE_EXTENSIONS.join(' ')})`, ref.labels ? 'labels' : 'path');
  return listing;
}

type Sharp = typeof SharpFunction;
let sharpModule: Promise<Sharp> | undefined;
// loaded on first decode, so that MNIST and CIFAR runs never load libvips
const loadSharp = () => (sharpModule ??= import('sharp').then((m) => ((m as unknown as { default?: Sharp }).default ?? m) as Sharp));

/** One image as 224×224 RGB bytes, preprocessed as `resize` says; a file sharp cannot decode is named. */
export async function decodeImage(file: string, resize: ImageResize): Promise<Uint8Array> {
  const sharp = await loadSharp();
  let data: Buffer;
  let width: number;
  let height: number;
  try {
    // Pillow's convert('RGB'): alpha dropped, grey replicated; no EXIF rotation (Pillow applies none)
    const r = await sharp(file).removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (r.info.channels !== 3) throw new Error(`decoded to ${r.info.channels} channels, not RGB`);
    ({ data } = r);
    ({ width, height } = r.info);
  } catch (e) {
    throw new DatasetFileError(file, `cannot decode the image: ${(e as Error).message}`);
  }
  const side = IMAGENET_SIDE;
  if (resize === '224') return resizeBilinear(data, width, height, 3, side, side);
  const [w, h] = shorterSideSize(width, height, 256);
  return centreCrop(resizeBilinear(data, width, height, 3, w, h), w, h, 3, side, side);
}

/** How many images are decoded at once (sharp decodes on libuv's thread pool). */
const DECODE_CONCURRENCY = 8;

/** The split for an agent: labels in memory, images decoded when asked for. */
export function openImagenet(ref: DatasetRef): DatasetSplit {
  const { files, labels } = listImagenet(ref);
  const resize: ImageResize = ref.resize ?? '224';
  const size = IMAGENET_SIDE * IMAGENET_SIDE * 3;
  return {
    name: 'imagenet',
    split: ref.split,
    sampleShape: [IMAGENET_SIDE, IMAGENET_SIDE, 3],
    count: files.length,
    labels,
    numClasses: IMAGENET_CLASSES,
    async samples(indices) {
      for (const i of indices) if (!Number.isInteger(i) || i < 0 || i >= files.length) throw new RangeError(`sample index ${i} is outside imagenet/${ref.split} (0..${files.length - 1})`);
      const out = new Float32Array(indices.length * size);
      let next = 0;
      const worker = async () => {
        for (let k = next++; k < indices.length; k = next++) {
          const bytes = await decodeImage(files[indices[k]], resize);
          for (let j = 0; j < size; j++) out[k * size + j] = bytes[j] / 255;
        }
      };
      await Promise.all(Array.from({ length: Math.min(DECODE_CONCURRENCY, indices.length) }, worker));
      return out;
    },
  };
}
