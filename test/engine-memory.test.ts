/**
 * Memory behaviour of the wasm engine: no tensor and no wasm-heap growth across 200 σ-zero steps
 * on the MNIST SmallCNN (the heap may grow while the first steps warm up, never after), and the
 * 4 GiB heap guard (agent/engine/heap-guard.ts): a batch that would not fit is refused before any
 * work with a message naming the batch size that fits, and the process stays usable.
 */
import type { Net } from '../agent/engine/net.ts';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkBatchFits, maxBatchFor, probeHeap, wasmHeapBytes, BatchTooLargeError } from '../agent/engine/heap-guard.ts';
import { MeteredModel } from '../agent/engine/metered-model.ts';
import { sigmaZero } from '../agent/attacks/sigma-zero.ts';
import { loadDataset } from '../agent/data/registry.ts';
import { gather } from '../agent/data/select.ts';
import { runTask } from '../agent/run-task.ts';
import { isPermanent } from '../schema/errors.ts';
import { loadSmallCnn, smallCnnTask } from './helpers/zoo.ts';
import { ENGINE_ENV } from '../agent/engine/ort/request.ts';

// this file measures the tfjs (wasm) engine: keep tasks off ONNX Runtime, which `auto` picks for zoo models with an ONNX twin
process.env[ENGINE_ENV] = 'tfjs';

let net: Net;

beforeAll(async () => {
  net = await loadSmallCnn();
});

describe('wasm engine memory', () => {
  it('no tensor or wasm-heap growth across 200 σ-zero steps', async () => {
    const ds = loadDataset('mnist', 'test');
    const idx = [0, 1, 2, 3, 4, 5, 6, 7];
    const x = tf.tensor4d(gather(ds.images, 784, idx), [8, 28, 28, 1]);
    const y = tf.tensor1d(Int32Array.from(idx, (i) => ds.labels[i]), 'int32');
    const model = new MeteredModel(net);
    const seen: Array<{ step: number; tensors: number; heap: number }> = [];
    const res = await sigmaZero(model, x, y, { steps: 200 }, { onEvaluate: (step) => seen.push({ step, tensors: tf.memory().numTensors, heap: wasmHeapBytes()! }) });
    tf.dispose([x, y, res.adversarials]);
    expect(seen).toHaveLength(200);
    const at = (s: number) => seen.find((e) => e.step === s)!;
    // after the warm-up (step 10), the live tensor count and the heap size stay where they are
    for (const e of seen.filter((e) => e.step >= 10)) {
      expect(e.tensors, `step ${e.step}`).toBe(at(10).tensors);
      expect(e.heap, `step ${e.step}`).toBe(at(10).heap);
    }
  });

  it('the guard estimates per-sample bytes and refuses batches beyond the planned heap', () => {
    const model = new MeteredModel(net);
    const est = probeHeap(net, [28, 28, 1], (x) => tf.dispose(model.valueAndGradUncounted(x)));
    // SmallCNN activations + their gradients at one sample: a few hundred KiB, not megabytes
    expect(est.perSampleBytes).toBeGreaterThan(100 * 1024);
    expect(est.perSampleBytes).toBeLessThan(2 * 2 ** 20);
    const max = maxBatchFor(est);
    expect(max).toBeGreaterThan(1000);
    expect(() => checkBatchFits(est, max, 'the SmallCNN')).not.toThrow();
    expect(() => checkBatchFits(est, max + 1, 'the SmallCNN')).toThrow(BatchTooLargeError);
    expect(() => checkBatchFits(est, max + 1, 'the SmallCNN')).toThrow(new RegExp(`use batchSize ≤ ${max}`));
  });

  it('runTask refuses a batch that would overflow the heap, permanently, before any work', async () => {
    const task = smallCnnTask({ key: 'h'.repeat(32), sweepId: 'heap', sampleIndices: Array.from({ length: 10_000 }, (_, i) => i), batchSize: 10_000 });
    const before = tf.memory().numTensors;
    const t0 = performance.now();
    const err = await runTask(task, { backend: 'wasm' }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(BatchTooLargeError);
    expect(isPermanent(err)).toBe(true);
    expect((err as Error).message).toMatch(/batchSize 10000 on model mnist-smallcnn needs about [\d.]+ GiB of wasm heap.*use batchSize ≤ \d+/);
    expect(performance.now() - t0).toBeLessThan(5000); // refused up front, not after attacking
    expect(tf.memory().numTensors).toBe(before);
    // and the engine still works
    const ok = await runTask({ ...task, sampleIndices: [0, 1], batchSize: 2, steps: 2 }, { backend: 'wasm' });
    expect(ok.samples).toHaveLength(2);
  });
});
