/**
 * σ-zero properties on the real MNIST zoo model (SmallCNN), through the engine's metered model:
 * outputs inside [0,1]; every reported success re-checked by a fresh forward; ℓ0 counted on what
 * is returned; already-misclassified inputs unchanged with ℓ0 0; queries = 2·steps per sample
 * without early stopping (fewer with it); no tensor leaks across batches.
 */
import type { Net } from '../agent/engine/net.ts';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { MeteredModel } from '../agent/engine/metered-model.ts';
import { sigmaZero } from '../agent/attacks/sigma-zero.ts';
import { loadDataset } from '../agent/data/registry.ts';
import { gather } from '../agent/data/select.ts';
import { runTask } from '../agent/run-task.ts';
import { loadSmallCnn, smallCnnTask } from './helpers/zoo.ts';
import { ENGINE_ENV } from '../agent/engine/ort/request.ts';

// this file measures the tfjs (wasm) engine: keep tasks off ONNX Runtime, which `auto` picks for zoo models with an ONNX twin
process.env[ENGINE_ENV] = 'tfjs';

const D = 784;
let net: Net;
let indices: number[];
let misclassified: number;

beforeAll(async () => {
  net = await loadSmallCnn();
  const test = loadDataset('mnist', 'test');
  // the first test image the model gets wrong, plus the first 11 images
  const pred = tf.argMax(net.apply(tf.tensor4d(test.images.subarray(0, 2000 * D), [2000, 28, 28, 1])), 1).dataSync();
  misclassified = Array.from(pred).findIndex((p, i) => p !== test.labels[i]);
  expect(misclassified).toBeGreaterThanOrEqual(0);
  indices = [...Array.from({ length: 11 }, (_, i) => i).filter((i) => i !== misclassified), misclassified].slice(0, 12);
});

async function attack(idx: number[], steps: number, epsilonBudget: number | null = null) {
  const test = loadDataset('mnist', 'test');
  const clean = gather(test.images, D, idx);
  const labels = Int32Array.from(idx, (i) => test.labels[i]);
  const m = new MeteredModel(net);
  const x = tf.tensor4d(clean, [idx.length, 28, 28, 1]);
  const y = tf.tensor1d(labels, 'int32');
  const r = await sigmaZero(m, x, y, { steps, epsilonBudget });
  const adv = Float32Array.from(await r.adversarials.data());
  const freshT = tf.tidy(() => tf.argMax(net.apply(r.adversarials), 1));
  const fresh = Array.from(await freshT.data());
  tf.dispose([x, y, r.adversarials, freshT]);
  return { clean, labels, adv, fresh, claimed: r.diagnostics!.claimedL0, forwards: m.forwards, backwards: m.backwards };
}

describe('σ-zero on the MNIST SmallCNN', () => {
  it('returns valid, re-checked, correctly counted adversarials with 2·steps queries per sample', async () => {
    const steps = 30;
    const r = await attack(indices, steps);
    const n = indices.length;
    expect(r.forwards).toBe(steps * n);
    expect(r.backwards).toBe(steps * n);
    for (const v of r.adv) expect(v >= 0 && v <= 1).toBe(true);
    let fooled = 0;
    for (let k = 0; k < n; k++) {
      let l0 = 0;
      for (let j = 0; j < D; j++) if (Math.fround(r.adv[k * D + j] - r.clean[k * D + j]) !== 0) l0++;
      const success = r.fresh[k] !== r.labels[k];
      if (success) {
        fooled++;
        // the attack's own count is what the evaluator counts on the returned input
        expect(r.claimed[k]).toBe(l0);
        expect(l0).toBeLessThan(D);
      } else {
        // failures come back unchanged
        expect(l0).toBe(0);
        expect(r.claimed[k]).toBe(D);
      }
      if (indices[k] === misclassified) {
        expect(success).toBe(true);
        expect(l0).toBe(0);
      }
    }
    expect(fooled).toBeGreaterThanOrEqual(n - 1);
  });

  it('early stopping (epsilonBudget) spends fewer queries and still meets the budget it reports', async () => {
    const steps = 30;
    const r = await attack(indices, steps, 1000);
    // every sample succeeds at its first adversarial point (≤ 784 < 1000): far fewer than 2·steps·n
    expect(r.forwards).toBeLessThan(steps * indices.length);
    expect(r.forwards).toBe(r.backwards);
  });

  it('leaks no tensors across batches', async () => {
    await attack(indices.slice(0, 4), 5);
    const before = tf.memory().numTensors;
    await attack(indices.slice(0, 4), 5);
    await attack(indices.slice(4, 8), 5);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('runTask evaluates with a fresh forward and reports per-sample rows and batch metrics', async () => {
    const task = smallCnnTask({ key: 'f'.repeat(32), sampleIndices: indices.slice(0, 6) });
    const res = await runTask(task);
    expect(res.samples.map((s) => s.datasetIndex)).toEqual(task.sampleIndices);
    expect(res.batches.map((b) => b.size)).toEqual([4, 2]);
    expect(res.batches.map((b) => b.forwards)).toEqual([40, 20]);
    expect(res.batches.every((b) => b.peakBytesLogical > 0 && b.seconds > 0)).toBe(true);
    expect(res.backend).toBe('wasm');
    for (const s of res.samples) {
      expect(s.success).toBe(s.advPred !== s.label);
      expect(s.pertIndices).toHaveLength(s.l0);
      for (const v of s.pertValues) expect(v >= 0 && v <= 1).toBe(true);
    }
  });
});
