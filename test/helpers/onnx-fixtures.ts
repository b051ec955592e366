/**
 * The cross-framework fixtures (test/fixtures/onnx, written by scripts/fixtures/make_onnx_fixtures.py):
 * one reader for every test that compares an engine with PyTorch, and the error measure they share.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const FIXTURE_DIR = path.join(import.meta.dirname, '..', 'fixtures', 'onnx');

/** One fixture's JSON: N fixed inputs (flat NCHW), their labels, PyTorch's logits and input gradients. */
export interface OnnxFixture {
  name: string;
  inputShape: [number, number, number, number];
  classes: number;
  input: number[];
  labels: number[];
  logits: number[];
  /** d/dx Σ (f_y − max_{j≠y} f_j), unclamped */
  gradMargin: number[];
  /** d/dx Σ cross-entropy */
  gradCE: number[];
}

/** Names of the fixtures that have both their .onnx and .json, sorted. */
export function fixtureNames(): string[] {
  if (!existsSync(FIXTURE_DIR)) return [];
  return readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith('.onnx') && existsSync(path.join(FIXTURE_DIR, f.replace(/\.onnx$/, '.json'))))
    .map((f) => f.replace(/\.onnx$/, ''))
    .sort();
}

export function readFixture(name: string): OnnxFixture {
  return JSON.parse(readFileSync(path.join(FIXTURE_DIR, `${name}.json`), 'utf8')) as OnnxFixture;
}

/** Per sample: max |a − b| / max |b| over the sample's values; the worst sample's value. */
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
