/**
 * CIFAR-10 binary version, on files written here in the exact format (10000 records of 3073
 * bytes: label, red plane, green plane, blue plane, row-major 32×32): values, labels, NHWC order,
 * and the file named on every wrong size, missing file or bad label.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCifar10, probeCifar10 } from '../agent/data/cifar10.ts';
import { DatasetFileError } from '../agent/data/dataset.ts';
import { loadDataset, openDataset, probeDataset } from '../agent/data/registry.ts';

const RECORD = 3073;

/** The planes are distinguishable: R = p + r, G = 3p + r + 100, B = 255 − (p + r) (mod 256); label r mod 10. */
const red = (r: number, p: number) => (p + r) & 255;
const green = (r: number, p: number) => (3 * p + r + 100) & 255;
const blue = (r: number, p: number) => 255 - ((p + r) & 255);

function cifarBatch(records = 10_000): Buffer {
  const buf = Buffer.alloc(records * RECORD);
  for (let r = 0; r < records; r++) {
    const o = r * RECORD;
    buf[o] = r % 10;
    for (let p = 0; p < 1024; p++) {
      buf[o + 1 + p] = red(r, p);
      buf[o + 1025 + p] = green(r, p);
      buf[o + 2049 + p] = blue(r, p);
    }
  }
  return buf;
}

const full = cifarBatch();

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function folder(files: Record<string, Buffer>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cifar-'));
  dirs.push(dir);
  for (const [name, bytes] of Object.entries(files)) writeFileSync(path.join(dir, name), bytes);
  return dir;
}

describe('CIFAR-10 reader', () => {
  const dir = folder({ 'test_batch.bin': full });

  it('reads labels and NHWC float pixels: sample i, row y, column x, channel c at ((i·32 + y)·32 + x)·3 + c', async () => {
    const ds = readCifar10(dir, 'test');
    expect(ds.count).toBe(10_000);
    expect(ds.sampleShape).toEqual([32, 32, 3]);
    expect(Array.from(ds.labels.subarray(0, 12))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    const [y, x] = [2, 5];
    const p = y * 32 + x;
    const got = await ds.samples([7, 9999]);
    expect(got.length).toBe(2 * 3072);
    expect(Array.from(got.subarray(p * 3, p * 3 + 3))).toEqual([red(7, p), green(7, p), blue(7, p)].map((v) => Math.fround(v / 255)));
    const q = 31 * 32 + 31;
    expect(Array.from(got.subarray(3072 + q * 3, 3072 + q * 3 + 3))).toEqual([red(9999, q), green(9999, q), blue(9999, q)].map((v) => Math.fround(v / 255)));
    // the whole split as floats agrees with samples(), sample by sample
    expect(Array.from(ds.images.subarray(7 * 3072, 8 * 3072))).toEqual(Array.from(got.subarray(0, 3072)));
  });

  it('through the registry: probe, open and load agree; the folder holding cifar-10-batches-bin works too', async () => {
    const parent = mkdtempSync(path.join(os.tmpdir(), 'cifar-parent-'));
    dirs.push(parent);
    mkdirSync(path.join(parent, 'cifar-10-batches-bin'));
    writeFileSync(path.join(parent, 'cifar-10-batches-bin', 'test_batch.bin'), full);
    for (const p of [dir, parent]) {
      expect(probeDataset({ name: 'cifar10', split: 'test', path: p })).toEqual({ count: 10_000 });
      const opened = await openDataset({ name: 'cifar10', split: 'test', path: p });
      expect(opened.labels[13]).toBe(3);
      const loaded = loadDataset('cifar10', 'test', { path: p });
      expect(Array.from(loaded.images.subarray(0, 3))).toEqual([red(0, 0), green(0, 0), blue(0, 0)].map((v) => Math.fround(v / 255)));
    }
  });

  it('names the file when it is truncated, mis-sized or missing, or its labels are not CIFAR-10', () => {
    const cases: Array<[Record<string, Buffer>, 'test' | 'train', RegExp]> = [
      [{ 'test_batch.bin': full.subarray(0, full.length - 1) }, 'test', /test_batch\.bin: 30729999 bytes; .*not a whole number of records/],
      [{ 'test_batch.bin': full.subarray(0, 9999 * RECORD) }, 'test', /test_batch\.bin: 30726927 bytes; a CIFAR-10 batch file is 10000 records of 3073 bytes .*holds 9999 records/],
      [{ 'test_batch.bin': Buffer.concat([full, full.subarray(0, RECORD)]) }, 'test', /holds 10001 records/],
      [{ 'data_batch_1.bin': full }, 'test', /test_batch\.bin: missing: CIFAR-10 test needs test_batch\.bin/],
      [{ 'test_batch.bin': full, 'data_batch_1.bin': full }, 'train', /data_batch_2\.bin: missing: CIFAR-10 train needs data_batch_1\.bin, .*data_batch_5\.bin/],
    ];
    for (const [files, split, message] of cases) {
      const d = folder(files);
      expect(() => probeCifar10(d, split)).toThrow(DatasetFileError);
      expect(() => probeCifar10(d, split)).toThrow(message);
      expect(() => readCifar10(d, split)).toThrow(message);
      const probed = probeDataset({ name: 'cifar10', split, path: d });
      expect(probed).toMatchObject({ problems: [{ field: 'path', message: expect.stringMatching(message) }] });
    }
    expect(() => probeCifar10('/nonexistent/cifar', 'test')).toThrow(/^\/nonexistent\/cifar: no such folder \(expected the CIFAR-10 binary version/);
    const bad = Buffer.from(full);
    bad[5 * RECORD] = 10;
    const d = folder({ 'test_batch.bin': bad });
    expect(probeCifar10(d, 'test')).toBe(10_000); // the size is right: only a full read sees labels
    expect(() => readCifar10(d, 'test')).toThrow(/test_batch\.bin: record 5 \(byte 15365\) has label 10, outside 0\.\.9/);
  });

  it('a DatasetFileError is bad input (exit 2) and permanent (no retry)', () => {
    const e = new DatasetFileError('/x', 'y');
    expect(e.badInput).toBe(true);
    expect(e.permanent).toBe(true);
  });
});
