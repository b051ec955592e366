/**
 * The ONNX Runtime engine's gradient graphs against PyTorch: for every cross-framework fixture in
 * test/fixtures/onnx (PyTorch-exported classifiers with PyTorch's logits and input gradients of the
 * summed margin and the summed cross-entropy), the in-graph heads ('margin', 'ce', reduction sum)
 * and the generic cotangent (VJP) graph must reproduce PyTorch's input gradients to 1e-4, relative
 * to each sample's largest gradient entry. The fixture list is read from the folder, so a fixture
 * added later is tested without touching this file.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OrtModel } from '../agent/engine/ort/classifier.ts';
import { FIXTURE_DIR, fixtureNames, readFixture, relativeError } from './helpers/onnx-fixtures.ts';

const TOLERANCE = 1e-4;
/** SIGMA_SWEEP_TEST_ORT_PROVIDER=cuda runs these on ONNX Runtime's CUDA provider (deploy/ORT-GPU.md) */
const PROVIDER = process.env.SIGMA_SWEEP_TEST_ORT_PROVIDER === 'cuda' ? 'cuda' : 'cpu';

const names = fixtureNames();

function nchwToNhwc(a: ArrayLike<number>, [n, c, h, w]: number[]): Float32Array {
  const out = new Float32Array(a.length);
  for (let b = 0; b < n; b++)
    for (let k = 0; k < c; k++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) out[((b * h + i) * w + j) * c + k] = a[((b * c + k) * h + i) * w + j];
  return out;
}


/** d(Σ margin)/d logits: +1 at y, −1 at the first arg-max of the other classes. */
function marginCotangent(logits: Float32Array, labels: number[], k: number): Float32Array {
  const cot = new Float32Array(logits.length);
  labels.forEach((y, s) => {
    let j = -1;
    for (let c = 0; c < k; c++) if (c !== y && (j < 0 || logits[s * k + c] > logits[s * k + j])) j = c;
    cot[s * k + y] += 1;
    cot[s * k + j] -= 1;
  });
  return cot;
}

describe('gradient graphs match PyTorch on the ONNX fixtures', () => {
  it('finds the fixtures', () => {
    // the importer's fixture set (issue 10) has at least the six named models
    expect(names).toEqual(expect.arrayContaining(['resnet18-cifar-narrow', 'preact-resnet18-cifar-narrow', 'wrn-silu-small', 'normalised-cnn', 'vit-tiny-block', 'mnist-smallcnn-view']));
  });

  it.each(names)('%s: logits, margin and cross-entropy input gradients within 1e-4', (name) => {
    const fx = readFixture(name);
    const model = new OrtModel(readFileSync(path.join(FIXTURE_DIR, `${name}.onnx`)), { threads: 1, provider: PROVIDER });
    const [n, c, h, w] = fx.inputShape;
    expect(model.sampleShape).toEqual([h, w, c]);
    expect(model.numClasses).toBe(fx.classes);
    const x = nchwToNhwc(fx.input, fx.inputShape);
    const labels = Int32Array.from(fx.labels);
    const nhwc = [n, h, w, c];

    const margin = model.headStep(x, n, 'margin', labels, 1);
    expect(relativeError(margin.logits, fx.logits, n)).toBeLessThan(TOLERANCE);
    expect(relativeError(margin.grad, nchwToNhwc(fx.gradMargin, fx.inputShape), n)).toBeLessThan(TOLERANCE);

    const ce = model.headStep(x, n, 'ce', labels, 1);
    expect(relativeError(ce.grad, nchwToNhwc(fx.gradCE, fx.inputShape), n)).toBeLessThan(TOLERANCE);

    // the generic path: the same gradient through the cotangent (VJP) graph
    const vjp = model.vjp(x, n, marginCotangent(margin.logits, fx.labels, fx.classes));
    expect(relativeError(vjp, nchwToNhwc(fx.gradMargin, fx.inputShape), n)).toBeLessThan(TOLERANCE);
    expect(nhwc.reduce((a, b) => a * b)).toBe(vjp.length);
    model.dispose();
  });
});
