/**
 * The "done when", as tests: `sigma-sweep run` on a spec naming an ONNX ResNet-18 exported
 * by PyTorch and CIFAR-10-format data (a test_batch.bin written here in the exact binary format)
 * prints its table; a spec naming the PyTorch-trained MNIST SmallCNN (ONNX) runs σ-zero on the
 * paper's sample list. Few samples and steps: what is checked is the path end to end, and that what
 * is stored holds the properties every attack result must have.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.ts';
import { writeSpec } from './helpers/zoo.ts';
import { paperSamples } from '../agent/data/paper-samples.ts';

const FIXTURES = path.resolve('test/fixtures/onnx');
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** A CIFAR-10 test_batch.bin of 10000 seeded random records (label byte, then R, G and B planes). */
function writeCifarTestBatch(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const buf = Buffer.alloc(10_000 * 3073);
  let s = 12345;
  for (let i = 0; i < buf.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    buf[i] = s >>> 16;
  }
  for (let r = 0; r < 10_000; r++) buf[r * 3073] %= 10;
  writeFileSync(path.join(dir, 'test_batch.bin'), buf);
}

describe('ONNX models end to end', () => {
  it('runs σ-zero on an ONNX ResNet-18 (PyTorch export) over CIFAR-10-format data and prints the table', async () => {
    const model = path.join(FIXTURES, 'resnet18-cifar-narrow.onnx');
    const { dir, spec } = writeSpec('sigma-onnx-cifar-', [
      'name: onnx-cifar',
      'datasets: [{ name: cifar10, path: cifar, samples: { first: 6 } }]',
      `models: [{ name: resnet18-narrow, path: ${JSON.stringify(model)}, sha256: ${sha256(model)} }]`,
      'attacks: [sigma-zero]',
      'steps: [5]',
      'batchSize: 3',
      'shardSize: 6',
    ]);
    writeCifarTestBatch(path.join(dir, 'cifar'));
    const dataDir = path.join(dir, 'data');
    const r = await cli(['run', spec, '--data-dir', dataDir, '--no-progress', '--backend', 'wasm']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('| *resnet18-narrow* ');
    expect(r.out).toMatch(/^\| sigma-zero /m);
    const rows = await cli(['sql', 'select dataset, count(*)::int as n, max(l0)::int as max_l0 from sample_results join tasks on tasks.key = task_key group by dataset', '--format', 'json', '--data-dir', dataDir]);
    const [row] = JSON.parse(rows.out);
    expect(row.dataset).toBe('cifar10');
    expect(row.n).toBe(6);
    expect(row.max_l0).toBeLessThanOrEqual(32 * 32 * 3); // ℓ0 counts features of a 32×32×3 input
  });

  it('runs σ-zero on the PyTorch-trained MNIST SmallCNN (ONNX) over the paper\'s sample list', async () => {
    const model = path.resolve('agent/models/zoo/mnist-smallcnn-pt/model.onnx');
    const { dir, spec } = writeSpec('sigma-onnx-mnist-', [
      'name: onnx-mnist-paper',
      'datasets: [{ name: mnist, samples: { paper: 100 } }]',
      `models: [{ name: smallcnn-pt, path: ${JSON.stringify(model)}, sha256: ${sha256(model)} }]`,
      'attacks: [sigma-zero]',
      'steps: [10]',
      'batchSize: 50',
      'shardSize: 50',
    ]);
    const dataDir = path.join(dir, 'data');
    const r = await cli(['run', spec, '--data-dir', dataDir, '--no-progress', '--backend', 'wasm']);
    expect(r.code, r.err).toBe(0);
    const got = await cli(['sql', 'select dataset_index, label, clean_pred, success, l0 from sample_results order by dataset_index', '--format', 'json', '--data-dir', dataDir]);
    const samples = JSON.parse(got.out) as Array<{ dataset_index: number; label: number; clean_pred: number; success: boolean; l0: number }>;
    const paper = paperSamples(10_000, 100)!;
    expect(samples.map((s) => s.dataset_index)).toEqual([...paper].sort((a, b) => a - b));
    // a 98.9 % model: nearly every clean prediction is right, and σ-zero succeeds on some within 10 steps
    expect(samples.filter((s) => s.clean_pred === s.label).length).toBeGreaterThanOrEqual(95);
    expect(samples.some((s) => s.success && s.l0 > 0)).toBe(true);
  });
});
