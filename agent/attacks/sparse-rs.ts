/**
 * Sparse-RS, ℓ0, untargeted, margin loss: fra31/sparse-rs `rs_attacks.py` (RSAttack), run in
 * feature space as σ-zero's `sparse_rs` wrapper does it (each feature is a "pixel" with one channel,
 * so k counts features and every new value is exactly 0 or 1); spec §4.3. Gradient-free: it only
 * ever calls `forward` (queries = forwards).
 *
 * The RNG is reseeded with `seed` at every call (as the reference reseeds torch with 0), and the
 * positions resampled each iteration are shared by the whole batch (one draw in A-index space, one
 * in U-index space), so results depend on batch composition exactly as in the reference. The random
 * stream itself is ours (mulberry32), not torch's: same distribution, different draws.
 * Budgets are clamped to d (the reference crashes for k > d).
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { AttackResult, Classifier } from './types.ts';
import { differenceOfLogits } from './losses.ts';
import { mulberry32 } from './rng.ts';
import { defineAttack, yieldToEventLoop } from './define.ts';

export const sparseRsOptionsSchema = z
  .object({
    /** query budget (the reference's n_queries); a sweep's step budget maps here */
    steps: z.number().int().min(1).default(400),
    /** budget k in features */
    k: z.number().int().min(0).default(10),
    pInit: z.number().positive().max(1).default(0.8),
    seed: z.number().int().min(0).default(0),
  })
  .strict();
export type SparseRsOptions = z.input<typeof sparseRsOptionsSchema>;

/** Fraction of the budget resampled at iteration `it` (rescaled schedule of the reference). */
export function pSelection(pInit: number, it: number, nQueries: number): number {
  const j = Math.trunc((it / nQueries) * 10000);
  if (j <= 0) return pInit;
  if (j <= 50) return pInit / 2;
  if (j <= 200) return pInit / 4;
  if (j <= 500) return pInit / 5;
  if (j <= 1000) return pInit / 6;
  if (j <= 2000) return pInit / 8;
  if (j <= 4000) return pInit / 10;
  if (j <= 6000) return pInit / 12;
  if (j <= 8000) return pInit / 15;
  return pInit / 20;
}

/** k distinct integers from [0, n), uniformly (partial Fisher–Yates). */
function sampleDistinct(n: number, k: number, rand: () => number): number[] {
  const pool = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rand() * (n - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, k);
}

async function margins(model: Classifier, batch: Float32Array, n: number, shape: [number, number, number], labels: Int32Array): Promise<Float32Array> {
  const m = tf.tidy(() => differenceOfLogits(model.forward(tf.tensor4d(batch, [n, ...shape])), tf.tensor1d(labels, 'int32')));
  const out = (await m.data()) as Float32Array;
  m.dispose();
  return out;
}

/** Direct use (tests, library callers): options validated here; sweeps bind them once (define.ts). */
export function sparseRs(model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, options: SparseRsOptions = {}): Promise<AttackResult> {
  return runSparseRs(model, inputs, labels, sparseRsOptionsSchema.parse(options));
}

export async function runSparseRs(model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, o: z.output<typeof sparseRsOptionsSchema>): Promise<AttackResult> {
  const [B, H, W, C] = inputs.shape;
  const shape: [number, number, number] = [H, W, C];
  const d = H * W * C;
  const k = Math.min(o.k, d);
  const rand = mulberry32(o.seed);
  const x = Float32Array.from(await inputs.data());
  const y = Int32Array.from(await labels.data());
  const out = Float32Array.from(x);

  // clean check: only correctly classified samples are attacked
  const clean = await margins(model, x, B, shape, y);
  const attacked = Array.from({ length: B }, (_, i) => i).filter((i) => clean[i] > 0 && k > 0);
  if (attacked.length === 0) return { adversarials: tf.tensor4d(out, [B, H, W, C]) };

  const nA = attacked.length;
  const cur = new Float32Array(nA * d);
  const setA: Int32Array[] = [];
  const setU: Int32Array[] = [];
  const vertex = () => (rand() < 0.5 ? 0 : 1);
  attacked.forEach((s, a) => {
    cur.set(x.subarray(s * d, (s + 1) * d), a * d);
    const perm = sampleDistinct(d, d, rand);
    setA.push(Int32Array.from(perm.slice(0, k)));
    setU.push(Int32Array.from(perm.slice(k)));
    for (const p of setA[a]) cur[a * d + p] = vertex();
  });
  const yA = Int32Array.from(attacked, (s) => y[s]);
  const best = await margins(model, cur, nA, shape, yA);

  for (let it = 1; it < o.steps; it++) {
    const active = Array.from({ length: nA }, (_, a) => a).filter((a) => best[a] > 0);
    if (active.length === 0) break;
    const kIt = Math.max(Math.floor(pSelection(o.pInit, it, o.steps) * k), 1);
    const posA = sampleDistinct(k, Math.min(kIt, k), rand);
    const posU = sampleDistinct(d - k, Math.min(kIt, d - k), rand);
    const cand = new Float32Array(active.length * d);
    active.forEach((a, r) => {
      const base = r * d;
      cand.set(cur.subarray(a * d, (a + 1) * d), base);
      const src = attacked[a] * d;
      for (const p of posA) cand[base + setA[a][p]] = x[src + setA[a][p]];
      for (const p of posU) {
        const f = setU[a][p];
        let v = vertex();
        if (kIt === 1) while (v === cand[base + f]) v = vertex();
        cand[base + f] = v;
      }
    });
    const m = await margins(model, cand, active.length, shape, Int32Array.from(active, (a) => yA[a]));
    active.forEach((a, r) => {
      if (m[r] < best[a] || m[r] < -1e-6) {
        best[a] = m[r];
        cur.set(cand.subarray(r * d, (r + 1) * d), a * d);
        for (let q = 0; q < posA.length && q < posU.length; q++) {
          const tmp = setA[a][posA[q]];
          setA[a][posA[q]] = setU[a][posU[q]];
          setU[a][posU[q]] = tmp;
        }
      }
    });
    if (it % 50 === 0) await yieldToEventLoop();
  }

  // final check: successes replace x, failures stay x
  const final = await margins(model, cur, nA, shape, yA);
  attacked.forEach((s, a) => {
    if (final[a] < 0) out.set(cur.subarray(a * d, (a + 1) * d), s * d);
  });
  return { adversarials: tf.tensor4d(out, [B, H, W, C]), diagnostics: { featureBudget: new Array<number>(B).fill(k) } };
}

export const sparseRsAttack = defineAttack({
  name: 'sparse-rs',
  description: 'Sparse-RS ℓ0 in feature space: fixed budget k in FEATURES, gradient-free (steps = query budget)',
  options: sparseRsOptionsSchema,
  budget: { option: 'k', unit: 'feature' },
  run: runSparseRs,
});
