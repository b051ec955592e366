/**
 * The ONNX Runtime engine's gradient graphs against PyTorch: for every cross-framework fixture in
 * test/fixtures/onnx (PyTorch-exported classifiers with PyTorch's logits and input gradients of the
 * summed margin and the summed cross-entropy), the in-graph heads ('margin', 'ce', reduction sum)
 * and the generic cotangent (VJP) graph must reproduce PyTorch's input gradients to 1e-4, relative
 * to each sample's largest gradient entry. The fixture list is read from the folder, so a fixture
 * added later is tested without touching this file.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OrtModel } from '../agent/engine/ort/classifier.ts';

const DIR = path.join(import.meta.dirname, 'fixtures', 'onnx');
const TOLERANCE = 1e-4;
/** SIGMA_SWEEP_TEST_ORT_PROVIDER=cuda runs these on ONNX Runtime's CUDA provider (deploy/ORT-GPU.md) */
const PROVIDER = process.env.SIGMA_SWEEP_TEST_ORT_PROVIDER === 'cuda' ? 'cuda' : 'cpu';

interface Fixture {
  name: string;
  inputShape: [number, number, number, number];
  classes: number;
  input: number[];
  labels: number[];
  logits: number[];
  gradMargin: number[];
  gradCE: number[];
}

const names = existsSync(DIR)
  ? readdirSync(DIR)
      .filter((f) => f.endsWith('.onnx') && existsSync(path.join(DIR, f.replace(/\.onnx$/, '.json'))))
      .map((f) => f.replace(/\.onnx$/, ''))
      .sort()
  : [];

function nchwToNhwc(a: ArrayLike<number>, [n, c, h, w]: number[]): Float32Array {
  const out = new Float32Array(a.length);
  for (let b = 0; b < n; b++)
    for (let k = 0; k < c; k++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) out[((b * h + i) * w + j) * c + k] = a[((b * c + k) * h + i) * w + j];
  return out;
}

/** Per sample: max |a − b| / max |b|; the worst sample's value. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>, samples: number): number {
  const d = b.length / samples;
  let worst = 0;
  for (let s = 0; s < samples; s++) {
    let num = 0;
    let den = 0;
    for (let i = s * d; i < (s + 1) * d; i++) {
      num = Math.max(num, Math.abs(a[i] - b[i]));
      den = Math.max(den, Math.abs(b[i]));
    }
    worst = Math.max(worst, den === 0 ? num : num / den);
  }
  return worst;
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
    const fx = JSON.parse(readFileSync(path.join(DIR, `${name}.json`), 'utf8')) as Fixture;
    const model = new OrtModel(readFileSync(path.join(DIR, `${name}.onnx`)), { threads: 1, provider: PROVIDER });
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
