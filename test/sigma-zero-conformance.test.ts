/**
 * σ-zero against traces of the official code (test/fixtures/sigma-zero-golden-trace.json).
 *
 * Exact: the returned ℓ0, success and predictions of every run, the forward-call batch sizes
 * (early stopping shrinks the active batch), the evaluated δ of the first two steps of default_30,
 * and the support (which features are nonzero) of every evaluated δ.
 *
 * Tolerances on the evaluated δ, and why: PyTorch's CPU sgemm (FMA, blocked sums) and ATen's
 * fused Adam moment update round differently from tfjs; the gradient then differs in the last
 * bit, and Adam divides by √v̂, which amplifies last-bit differences on features whose gradient is
 * near zero. Measured here on cpu and wasm (max |Δδ| per step): 5.5e-5 at step 2, 1.8e-3 at 15,
 * ≤ 9e-3 up to step 27, one feature at 6.1e-2 at step 29 (with identical support); star_30 (σ = 1
 * keeps the surrogate smooth) stays ≤ 1.8e-7. The fixture's own independent re-statement drifted
 * 3e-5 / 1e-3 / 5e-3 at steps 3 / 15 / 30. Bounds below sit ~2× above what we measured.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../agent/engine/backend.ts';
import { MeteredModel } from '../agent/engine/metered-model.ts';
import { sigmaZero, SIGMA_ZERO_STAR, type SigmaZeroOptions } from '../agent/attacks/sigma-zero.ts';
import { goldenModel, loadGolden, type Golden, type GoldenRun } from './helpers/golden.ts';

let g: Golden;
let model: MeteredModel;

/** records every forward's batch size (what the fixture's forward_calls lists) */
class CallLog extends MeteredModel {
  calls: number[] = [];
  override valueAndGrad(...a: Parameters<MeteredModel['valueAndGrad']>) {
    this.calls.push(a[0].shape[0]);
    return super.valueAndGrad(...a);
  }
}

function optionsOf(run: GoldenRun): SigmaZeroOptions {
  const o: SigmaZeroOptions = { steps: run.options.steps };
  if (run.options.lr !== undefined) Object.assign(o, SIGMA_ZERO_STAR);
  if (run.options.epsilon_budget !== undefined) o.epsilonBudget = run.options.epsilon_budget;
  return o;
}

async function replay(name: keyof Golden['runs']) {
  const run = g.runs[name];
  const m = new CallLog(goldenModel(g));
  const [n, h, w, c] = g.input_shape;
  const x = tf.tensor4d(g.inputs.flat(), [n, h, w, c]);
  const y = tf.tensor1d(g.labels, 'int32');
  const evaluated: { step: number; active: number[]; delta: Float32Array }[] = [];
  const r = await sigmaZero(m, x, y, optionsOf(run), { onEvaluate: (step, active, delta) => evaluated.push({ step, active, delta: delta.slice() }) });
  const adv = (await r.adversarials.data()) as Float32Array;
  const pred = Array.from(await tf.argMax(m.forward(r.adversarials), 1).data());
  const xs = Float32Array.from(g.inputs.flat());
  const d = h * w * c;
  const l0 = Array.from({ length: n }, (_, i) => adv.subarray(i * d, (i + 1) * d).filter((v, j) => Math.fround(v - xs[i * d + j]) !== 0).length);
  tf.dispose([x, y, r.adversarials]);
  return { run, calls: m.calls, evaluated, adv, pred, l0 };
}

beforeAll(async () => {
  await selectBackend(process.env.SIGMA_SWEEP_TEST_BACKEND === 'cpu' ? 'cpu' : 'wasm');
  g = loadGolden();
  model = new MeteredModel(goldenModel(g));
});

describe('σ-zero conformance with the official V3 traces', () => {
  it('the tiny MLP reproduces the clean predictions of the trace', () => {
    const [n, h, w, c] = g.input_shape;
    const pred = tf.argMax(model.forward(tf.tensor4d(g.inputs.flat(), [n, h, w, c])), 1).arraySync();
    expect(pred).toEqual(g.clean_pred);
  });

  for (const name of ['default_30', 'star_30', 'budget3_40'] as const) {
    it(`${name}: returned ℓ0, success, predictions and forward-call sizes are exact`, async () => {
      const { run, calls, pred, l0 } = await replay(name);
      expect(l0).toEqual(run.l0);
      expect(pred).toEqual(run.adv_pred);
      expect(pred.map((p, i) => p !== g.labels[i])).toEqual(run.success);
      expect(calls).toEqual(run.forward_calls);
    });
  }

  it('default_30: evaluated δ exact for steps 0–1, same support everywhere, drift within the measured bound', async () => {
    const { run, evaluated } = await replay('default_30');
    expect(evaluated).toHaveLength(30);
    for (const { step, delta } of evaluated) {
      const ref = run.steps[step].delta!.flat();
      const diffs = Array.from(delta, (v, j) => Math.abs(v - ref[j]));
      const support = Array.from(delta, (v, j) => (v === 0) !== (ref[j] === 0)).filter(Boolean).length;
      expect(support, `support differs at step ${step}`).toBe(0);
      const max = Math.max(...diffs);
      const bound = step < 2 ? 0 : step <= 5 ? 1e-3 : step <= 15 ? 4e-3 : step <= 27 ? 2e-2 : 0.15;
      expect(max, `step ${step}`).toBeLessThanOrEqual(bound);
      // all but a handful of features stay far tighter than the worst one
      const loose = diffs.filter((v) => v > 1e-2).length;
      expect(loose, `step ${step}`).toBeLessThanOrEqual(2);
    }
  });

  it('star_30: evaluated δ within 1e-6 at every step', async () => {
    const { run, evaluated } = await replay('star_30');
    for (const { step, delta } of evaluated) {
      const ref = run.steps[step].delta!.flat();
      const max = Math.max(...Array.from(delta, (v, j) => Math.abs(v - ref[j])));
      expect(max, `step ${step}`).toBeLessThanOrEqual(1e-6);
    }
  });

  it('budget3_40: the already-misclassified sample leaves the active set after one step', async () => {
    const { run, evaluated } = await replay('budget3_40');
    expect(evaluated[0].active).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(evaluated[1].active).not.toContain(7);
    expect(evaluated.map((e) => e.active.length)).toEqual(run.forward_calls);
    // step 0 is evaluated on the full batch: δ = 0 exactly
    expect(Math.max(...Array.from(evaluated[0].delta, Math.abs))).toBe(0);
  });
});
