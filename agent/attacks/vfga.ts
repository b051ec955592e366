/**
 * VFGA, the voting folded Gaussian attack (Césaire et al., arXiv 2011.12423), as
 * jeromerony/adversarial-library `adv_lib/attacks/stochastic_sparse_attacks.py: vfga` implements it
 * and σ-zero's wrapper calls it (untargeted); spec §4.5. A minimum-norm ℓ0 attack in FEATURES:
 * at most one new feature per iteration.
 *
 * Iteration (at most `steps` = the reference's max_iter), per sample still active (not yet
 * adversarial and with at least one feature still equal to the original):
 *  1. one forward + backward at the current point x̃: p = softmax(logits), g = ∇(−p_y) (1F+1B);
 *  2. over the unmodified features Γ (x̃_j == x_j): i⁺ = argmax (1 − x̃)·g, i⁻ = argmin x̃·g;
 *  3. θ⁺ = 1 − x̃_{i⁺}, θ⁻ = x̃_{i⁻}; n = nSamples draws S⁺ = |N(0,1)|·θ⁺, n draws S⁻ = −|N(0,1)|·θ⁻;
 *  4. 2n candidates: x̃ with feature i⁺ moved by S⁺ (resp. i⁻ by S⁻), clipped to [0,1]; one forward
 *     each (2n F); the candidate with the lowest p_y − 1[adversarial] (first on ties) becomes the
 *     current point, even when it is worse; if it is adversarial the sample stops with it.
 * Returns the adversarial point, else x. Queries per iteration per active sample: 1F+1B + 2n F.
 *
 * Memory: candidates are built and evaluated `chunk` inputs at a time and never materialised all
 * at once (the reference builds all B·2n of them, then forwards them in nSamples pieces). The
 * default, `chunk: null`, is the reference's split: nSamples pieces of 2 candidates per active
 * sample, i.e. a forward of 2·(active samples) inputs; any chunk gives the same result (forwards
 * are per sample) and the same query count.
 *
 * Options: `steps` is the sweep's step budget and maps to max_iter (reference default: d, the
 * number of features; σ-zero's configs use 1000, our default). `seed` seeds the |N(0,1)| draws
 * (mulberry32 + Box–Muller, one stream per run; per iteration all S⁺ of the active samples, then
 * all S⁻), so the draws are ours, not torch's: same distribution, different numbers.
 *
 * Deviations from the reference:
 *  - Inputs already misclassified are returned unchanged (our contract). The reference has no
 *    clean check and returns them with one modified feature. The check reuses the logits of the
 *    first iteration's forward+backward, so such a sample costs 1F+1B and no candidates.
 *  - "Adversarial" is argmax of the logits ≠ y (what the evaluator judges); the reference takes
 *    argmax of the softmax, which can only differ where float32 probabilities tie.
 *  - Not changed, as in the reference: a feature at 1 (or 0) gives θ = 0, its candidates equal
 *    the current point and the feature stays "unmodified", so a sample can stall there until
 *    `steps` runs out; i⁺ and i⁻ may be the same feature.
 * Diagnostics: `iterations`, the number of candidate rounds each sample took part in (0 for
 * samples already misclassified); the ℓ0 of a success is at most that.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { AttackResult, Classifier } from './types.ts';
import { predict } from './losses.ts';
import { mulberry32 } from './rng.ts';
import { defineAttack, yieldToEventLoop } from './define.ts';

export const vfgaOptionsSchema = z
  .object({
    /** the reference's max_iter: a sweep's step budget maps here */
    steps: z.number().int().min(1).default(1000),
    /** draws per direction per iteration (2·nSamples candidates) */
    nSamples: z.number().int().min(1).default(10),
    /** seed of the |N(0,1)| draws */
    seed: z.number().int().min(0).max(0xffffffff).default(0),
    /** candidate inputs per forward; null: the reference's nSamples pieces (2 per active sample) */
    chunk: z.number().int().min(1).nullable().default(null),
  })
  .strict();
export type VfgaOptions = z.input<typeof vfgaOptionsSchema>;
type Resolved = z.output<typeof vfgaOptionsSchema>;

/** |N(0,1)| draws (Box–Muller, one uniform pair per draw) from a uniform [0,1) generator. */
export function foldedNormals(count: number, rand: () => number): Float32Array {
  const out = new Float32Array(count);
  for (let k = 0; k < count; k++) {
    const u1 = 1 - rand(); // (0, 1]: log stays finite
    const u2 = rand();
    out[k] = Math.abs(Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
  }
  return out;
}

/** p_y of the softmax per row (the quantity VFGA drives down). */
function labelProb(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => tf.sum(tf.mul(tf.softmax(logits), tf.oneHot(labels, logits.shape[1]).cast('float32')), 1) as tf.Tensor1D);
}

/** x̃ with feature f moved by s, per row, clipped to [0,1] (x̃ + 0 elsewhere: exactly x̃). */
function moveOne(base: tf.Tensor2D, f: tf.Tensor1D, s: tf.Tensor1D): tf.Tensor2D {
  return tf.tidy(() => tf.clipByValue(tf.add(base, tf.mul(tf.oneHot(f, base.shape[1]).cast('float32'), s.expandDims(1))), 0, 1) as tf.Tensor2D);
}

/** Step 2–3: the two features and their θ, over the unmodified features only. */
function pickFeatures(xa: tf.Tensor2D, x0a: tf.Tensor2D, grad: tf.Tensor2D) {
  return tf.tidy(() => {
    const free = tf.equal(xa, x0a);
    const up = tf.argMax(tf.where(free, tf.mul(tf.sub(1, xa), grad), tf.fill(xa.shape, -Infinity)), 1) as tf.Tensor1D;
    const down = tf.argMin(tf.where(free, tf.mul(xa, grad), tf.fill(xa.shape, Infinity)), 1) as tf.Tensor1D;
    const at = (f: tf.Tensor1D) => tf.sum(tf.mul(xa, tf.oneHot(f, xa.shape[1]).cast('float32')), 1);
    return { up, down, thetaUp: tf.sub(1, at(up)) as tf.Tensor1D, thetaDown: at(down) as tf.Tensor1D };
  });
}

/**
 * Step 4: p_y and the adversarial flag of every candidate, `rows` candidates per forward. Row r of
 * the flattened [a, 2n] grid is candidate r mod 2n of active sample ⌊r / 2n⌋.
 */
function scoreCandidates(model: Classifier, xa: tf.Tensor2D, f: tf.Tensor2D, s: tf.Tensor2D, ya: tf.Tensor1D, rows: number) {
  const [a, m] = f.shape;
  const [H, W, C] = model.inputShape;
  const total = a * m;
  const owner = Int32Array.from({ length: total }, (_, r) => Math.floor(r / m));
  const fFlat = f.reshape([total]) as tf.Tensor1D;
  const sFlat = s.reshape([total]) as tf.Tensor1D;
  const probs: tf.Tensor1D[] = [];
  const advs: tf.Tensor1D[] = [];
  for (let r0 = 0; r0 < total; r0 += rows) {
    const r1 = Math.min(total, r0 + rows);
    const [p, adv] = tf.tidy(() => {
      const who = tf.tensor1d(owner.subarray(r0, r1), 'int32');
      const cand = moveOne(tf.gather(xa, who), fFlat.slice(r0, r1 - r0), sFlat.slice(r0, r1 - r0));
      const logits = model.forward(cand.reshape([r1 - r0, H, W, C]) as tf.Tensor4D);
      const y = tf.gather(ya, who);
      return [labelProb(logits, y), tf.cast(tf.notEqual(predict(logits), y), 'float32')] as [tf.Tensor1D, tf.Tensor1D];
    });
    probs.push(p);
    advs.push(adv);
  }
  const out = tf.tidy(() => ({ py: tf.concat(probs).reshape([a, m]) as tf.Tensor2D, adv: tf.concat(advs).reshape([a, m]) as tf.Tensor2D }));
  tf.dispose([fFlat, sFlat, ...probs, ...advs]);
  return out;
}

/** Tensors of one forward+backward on the active rows. */
interface GradStep {
  xa: tf.Tensor2D;
  x0a: tf.Tensor2D;
  ya: tf.Tensor1D;
  grad: tf.Tensor2D;
  pred: tf.Tensor1D;
}

/** Step 1 on rows `act` of the current points: 1F+1B each, g = ∇(−p_y). */
function gradientStep(model: Classifier, cur: tf.Tensor2D, x0: tf.Tensor2D, labels: tf.Tensor1D, act: number[]): GradStep {
  const [H, W, C] = model.inputShape;
  const a = act.length;
  return tf.tidy(() => {
    const idx = tf.tensor1d(act, 'int32');
    const xa = tf.gather(cur, idx) as tf.Tensor2D;
    const ya = tf.gather(labels, idx) as tf.Tensor1D;
    const shape: [number, number, number, number] = [a, H, W, C];
    const { logits, grad } = model.valueAndGrad(xa.reshape(shape) as tf.Tensor4D, tf.zeros(shape) as tf.Tensor4D, (lg) => tf.neg(tf.sum(labelProb(lg, ya))) as tf.Scalar);
    const pred = predict(logits);
    logits.dispose(); // kept by the model for the caller
    return { xa, ya, x0a: tf.gather(x0, idx) as tf.Tensor2D, grad: grad.reshape([a, -1]) as tf.Tensor2D, pred };
  });
}

/** The rows `keep` (positions) of a step. */
function selectRows(t: GradStep, keep: number[]): GradStep {
  return tf.tidy(() => {
    const k = tf.tensor1d(keep, 'int32');
    return { xa: tf.gather(t.xa, k), x0a: tf.gather(t.x0a, k), ya: tf.gather(t.ya, k), grad: tf.gather(t.grad, k), pred: tf.gather(t.pred, k) };
  });
}

function disposeStep(t: GradStep): void {
  tf.dispose([t.xa, t.x0a, t.ya, t.grad, t.pred]);
}

/** Direct use (tests, library callers): options validated here; sweeps bind them once (define.ts). */
export function vfga(model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, options: VfgaOptions = {}): Promise<AttackResult> {
  return runVfga(model, inputs, labels, vfgaOptionsSchema.parse(options));
}

export async function runVfga(model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, o: Resolved): Promise<AttackResult> {
  const [B, H, W, C] = inputs.shape;
  const d = H * W * C;
  const n = o.nSamples;
  const rand = mulberry32(o.seed);
  const x0 = inputs.reshape([B, d]) as tf.Tensor2D;
  let cur = x0.clone();
  const found = new Array<boolean>(B).fill(false);
  const done = new Array<boolean>(B).fill(d === 0);
  const iterations = new Array<number>(B).fill(0);

  for (let i = 0; i < o.steps; i++) {
    let act = Array.from({ length: B }, (_, k) => k).filter((k) => !done[k]);
    if (act.length === 0) break;
    let t = gradientStep(model, cur, x0, labels, act);
    if (i === 0) {
      // our contract: inputs already misclassified are returned unchanged (the reference has no
      // such check); the first iteration's forward tells, at no extra query
      const pred = await t.pred.data();
      const yv = await t.ya.data();
      const keep = act.map((_, k) => k).filter((k) => pred[k] === yv[k]);
      act.forEach((s, k) => (done[s] = pred[k] !== yv[k]));
      if (keep.length < act.length) {
        const sub = selectRows(t, keep);
        disposeStep(t);
        t = sub;
        act = keep.map((k) => act[k]);
      }
      if (act.length === 0) {
        disposeStep(t);
        break;
      }
    }
    const a = act.length;
    const pick = pickFeatures(t.xa, t.x0a, t.grad);
    const z = foldedNormals(2 * a * n, rand); // all S⁺ draws of this iteration, then all S⁻
    const grid = tf.tidy(() => {
      const zUp = tf.tensor2d(z.subarray(0, a * n), [a, n]);
      const zDown = tf.tensor2d(z.subarray(a * n), [a, n]);
      const s = tf.concat([tf.mul(zUp, pick.thetaUp.expandDims(1)), tf.neg(tf.mul(zDown, pick.thetaDown.expandDims(1)))], 1) as tf.Tensor2D;
      const f = tf.concat([tf.tile(pick.up.expandDims(1), [1, n]), tf.tile(pick.down.expandDims(1), [1, n])], 1) as tf.Tensor2D;
      return { s, f };
    });
    const scored = scoreCandidates(model, t.xa, grid.f, grid.s, t.ya, o.chunk ?? 2 * a);
    // the lowest p_y wins, adversarial candidates first; it replaces the current point
    const next = tf.tidy(() => {
      const best = tf.oneHot(tf.argMin(tf.sub(scored.py, scored.adv), 1), 2 * n).cast('float32');
      const pickOf = (g: tf.Tensor2D) => tf.sum(tf.mul(g, best), 1);
      const rows = tf.tensor2d(act, [a, 1], 'int32');
      const fAll = tf.scatterND(rows, tf.cast(pickOf(grid.f.cast('float32')), 'int32'), [B]) as tf.Tensor1D;
      const sAll = tf.scatterND(rows, pickOf(grid.s), [B]) as tf.Tensor1D; // 0 for samples not attacked
      const moved = moveOne(cur, fAll, sAll);
      const adv = pickOf(scored.adv);
      const free = tf.any(tf.equal(tf.gather(moved, rows.reshape([a])), t.x0a), 1).cast('float32');
      return { moved, flags: tf.stack([adv, free]) };
    });
    tf.dispose([cur, grid.f, grid.s, scored.py, scored.adv, pick.up, pick.down, pick.thetaUp, pick.thetaDown]);
    disposeStep(t);
    cur = next.moved;
    const flags = await next.flags.data();
    next.flags.dispose();
    act.forEach((s, k) => {
      iterations[s]++;
      found[s] = flags[k] === 1;
      done[s] = found[s] || flags[a + k] === 0; // adversarial, or no unmodified feature left
    });
    await yieldToEventLoop();
  }
  const adversarials = tf.tidy(() => tf.where(tf.broadcastTo(tf.tensor2d(found.map(Number), [B, 1], 'bool'), [B, d]), cur, x0).reshape([B, H, W, C]) as tf.Tensor4D);
  tf.dispose([x0, cur]);
  return { adversarials, diagnostics: { iterations } };
}

export const vfgaAttack = defineAttack({
  name: 'vfga',
  description: 'VFGA (voting folded Gaussian, adv_lib): one feature per iteration, 2·nSamples random candidates; steps = max_iter',
  options: vfgaOptionsSchema,
  run: runVfga,
});
