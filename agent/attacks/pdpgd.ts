/**
 * PDPGD, ℓ0 (primal-dual proximal gradient descent, Matyasko & Chau, arXiv 2106.01538), as
 * adversarial-library `pdpgd(norm=0)` runs it (jeromerony/adversarial-library
 * `adv_lib/attacks/primal_dual_gradient_descent.py`, "adapted from aam-at/cpgd"); spec §4.6.
 * Batched; no per-sample or per-feature JS loops.
 *
 * Per step i = 0 … N−1 (N = `steps`), exactly in this order:
 *  1. one forward+backward at x+r: margin m = f_y − max_{j≠y} f_j; adversarial iff m < 0 (strict,
 *     from the logits, not argmax); dist = number of features of (x+r) − x that are ≠ 0; an
 *     adversarial point with strictly smaller dist becomes the sample's best.
 *  2. g = ∇_r Σ softplus(max(m, 0)); Adam moments (β 0.9/0.999); denominator
 *     D = √v / √(1−β2^{i+1}) + 1e−8; primal step s_i = primalLr · primalLrDecrease^{i/N};
 *     r ← r − (s_i/(1−β1^{i+1}))·m̂/D; box r ← clip(x+r, 0, 1) − x.
 *  3. proximal Adam (no model calls): ψ = max_features D (per sample), H = D/ψ,
 *     μ = (λ̄0/λ̄1)·s_i/ψ; z = r; up to `proximalSteps` times:
 *       z_new = box(prox_μ(z + H⊙(r − z))); z ← z_new where the sample's e > εthreshold (else kept);
 *       e = ‖z − z_prev‖₂ / ‖z‖₂; stop when every e < εthreshold. r ← z.
 *     e starts at 1 (first sub-iteration always accepted). When z = 0 then e = 0/0 = NaN: NaN is
 *     never > εthreshold, so that sample is frozen for the rest of the loop, and never < εthreshold,
 *     so the loop cannot stop early while it is frozen (the reference's behaviour, kept).
 *     (With both proxes here the freeze cannot change r: z = 0 means prox(r) = 0, and the next
 *     input H⊙r, 0 < H ≤ 1, is smaller in magnitude, so it would be zeroed again.)
 *  4. dual: θ_i = dualLr · ((N−1−i)/(N−1) · (1 − dualLrDecrease) + dualLrDecrease);
 *     λ1 ← clip(λ1 + θ_i·sign(m), log dualMinRatio, −log dualMinRatio) (λ0 stays 0);
 *     λ̄ ← dualEma·λ̄ + (1 − dualEma)·softmax(λ0, λ1).
 * Init: r = 0 (or U(−randomInit, randomInit), boxed), Adam moments 0, λ1 = −log dualRatioInit,
 * λ̄ = softmax(0, λ1). Returns the best adversarial x+r; failures return x; inputs already
 * adversarial (m < 0 at r = 0) come back as x (dist 0 cannot be beaten). The last update is
 * never evaluated. Queries: exactly 1F + 1B per step per sample (N·B each), no early exit.
 *
 * Proximal operators (`proximalOperator`):
 *  - 'l0' (default, what σ-zero's config runs): per PIXEL (all C channels together) keep z iff
 *    max_c |z_c| ≥ √(2μ), else zero the pixel; ℓ0 itself is still counted per feature. (For C = 1
 *    this is the exact prox of μ·‖z‖0; for C > 1 it is the reference's max-over-channels rule, not
 *    the exact group prox, which would compare the channel ℓ2 norm.)
 *  - 'l23': per COORDINATE (as adv_lib's `l23_proximal`), the exact prox of μ|z|^{2/3}, see l23Prox.
 *
 * Deviations, all stated:
 *  - The loss is softplus(max(m, 0)), as the reference code has it (the spec's §4.6 writes
 *    softplus(m)): adversarial points get a zero classification gradient (m = 0 exactly passes it).
 *  - 'l23' returns the GLOBAL minimiser: adv_lib's closed form zeroes only where the stationary
 *    point does not exist (|v| < (2048/729)^{1/4} μ^{3/4} ≈ 1.2946 μ^{3/4}) and returns the local
 *    minimiser for 1.2946 μ^{3/4} ≤ |v| < 1.4756 μ^{3/4}, where 0 has the lower objective; here that
 *    band gives 0. The cube root of the small Cardano term is computed as (2μ/9)/U (no cancellation).
 *  - N = 1: the reference divides 0/0 in θ (a Python ZeroDivisionError); here the fraction is 0
 *    (θ = dualLr·dualLrDecrease). The dual update after the last step never matters.
 *  - `randomInit` draws from tfjs's seeded uniform (seed + 1), not PyTorch's global RNG; with the
 *    default randomInit = 0 the attack is deterministic and uses no randomness.
 *  - Float32 rounding: tfjs rounds `m·β + g·(1−β)` twice where ATen fuses (as in sigma-zero.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { AttackResult, Classifier } from './types.ts';
import { countNonZero, differenceOfLogits } from './losses.ts';
import { boxDelta } from './projections.ts';
import { perSampleNorm } from './norms.ts';
import { defineAttack, yieldToEventLoop } from './define.ts';

export const pdpgdOptionsSchema = z
  .object({
    /** N, number of steps (each 1F+1B); the sweep's step budget (adv_lib default 500, σ-zero configs 1000) */
    steps: z.number().int().min(1).default(500),
    /** 'l0': pixel-grouped hard threshold at √(2μ) (adv_lib default for norm 0); 'l23': exact ℓ2/3 prox per feature */
    proximalOperator: z.enum(['l0', 'l23']).default('l0'),
    /** initial primal (Adam) step size s_0 */
    primalLr: z.number().positive().default(0.1),
    /** final primal step multiplier: s_i = primalLr · primalLrDecrease^{i/N} (exponential decay) */
    primalLrDecrease: z.number().positive().max(1).default(0.01),
    /** initial ratio λ̄0/λ̄1 of the distance weight to the misclassification weight (smaller: more weight on misclassifying) */
    dualRatioInit: z.number().positive().lt(1).default(0.01),
    /** initial dual step size θ_0 (gradient ascent on λ1 with sign(m)) */
    dualLr: z.number().positive().default(0.1),
    /** final dual step multiplier: θ decays linearly from dualLr to dualLr·dualLrDecrease */
    dualLrDecrease: z.number().min(0).max(1).default(0.1),
    /** EMA coefficient of the dual weights λ̄ (0: λ̄ = softmax(λ), no averaging); adv_lib default 0.9 */
    dualEma: z.number().min(0).lt(1).default(0.9),
    /** λ1 is clipped to [log r, −log r]: bounds λ̄0/λ̄1 and λ̄1/λ̄0 below by r */
    dualMinRatio: z.number().positive().lt(1).default(1e-6),
    /** maximum proximal-Adam sub-iterations per step */
    proximalSteps: z.number().int().min(1).default(5),
    /** relative-change stop of the proximal sub-iterations */
    epsThreshold: z.number().positive().default(1e-2),
    /** start from r ~ U(−randomInit, randomInit) (boxed); 0: start at x */
    randomInit: z.number().min(0).max(1).default(0),
    /** seed of the random start (unused when randomInit = 0) */
    seed: z.number().int().min(0).default(0),
  })
  .strict();
export type PdpgdOptions = z.input<typeof pdpgdOptionsSchema>;
type Resolved = z.output<typeof pdpgdOptionsSchema>;

const BETA1 = 0.9;
const BETA2 = 0.999;
const ADAM_EPS = 1e-8;

/**
 * ℓ0 prox, pixel-grouped: v [B, P, C] (P pixels, C channels), μ [B] or broadcastable [B, 1, 1];
 * keeps the pixel's channels iff max_c |v| ≥ √(2μ), else zeroes them (a multiply by the 0/1 mask,
 * as the reference does).
 */
export function l0Prox(v: tf.Tensor3D, mu: tf.Tensor): tf.Tensor3D {
  return tf.tidy(() => {
    const m = mu.reshape([v.shape[0], 1, 1]);
    const keep = tf.greaterEqual(tf.max(tf.abs(v), 2, true), tf.sqrt(tf.mul(m, 2)));
    return tf.mul(tf.cast(keep, 'float32'), v) as tf.Tensor3D;
  });
}

/**
 * Exact prox of μ|z|^{2/3}, per coordinate: argmin_z ½(z − v)² + μ|z|^{2/3}, v [B, n], μ [B] or [B, 1].
 *
 * Derivation (v > 0 wlog, z = t³, t > 0): stationarity z − v + (2/3)μ z^{−1/3} = 0 is the quartic
 * t⁴ − v·t + c = 0, c = 2μ/3. Factoring it as (t² + p t + q)(t² − p t + s) gives, for b = p²,
 * the resolvent cubic b³ − 4c·b − v² = 0, solved by Cardano:
 *   A = v²/16, a = √(A² − 8μ³/729), U = ∛(A + a), W = ∛(A − a) = (2μ/9)/U, b = 2(U + W),
 * and the larger root of t² − √b·t + s = 0 is the local minimiser
 *   t = (√b + √(2|v|/√b − b)) / 2,   z* = sign(v)·t³.
 * z* beats z = 0 iff ½(z*−v)² + μ z*^{2/3} ≤ ½v²; at equality both conditions give
 * z*^{4/3} = 2μ/3 and |v| = (4/3)μ·(2μ/3)^{−1/4}, so
 *   prox(v) = z*  if |v| ≥ T = (4/3)(3/2)^{1/4} μ^{3/4} ≈ 1.4756 μ^{3/4},  else 0
 * (Cao, Sun & Xu 2013's L2/3 threshold (2/3)(3λ³)^{1/4} with λ = 2μ). Below T the unused branch may
 * be NaN/∞; a select (not a multiply) keeps it out.
 */
export function l23Prox(v: tf.Tensor2D, mu: tf.Tensor): tf.Tensor2D {
  return tf.tidy(() => {
    const m = mu.reshape([v.shape[0], 1]);
    const av = tf.abs(v);
    const A = tf.div(tf.square(v), 16);
    const a = tf.sqrt(tf.sub(tf.square(A), tf.mul(tf.pow(m, 3), 8 / 729)));
    const U = tf.pow(tf.add(A, a), 1 / 3);
    const W = tf.div(tf.mul(m, 2 / 9), U);
    const b = tf.mul(tf.add(U, W), 2);
    const sb = tf.sqrt(b);
    const t = tf.div(tf.add(sb, tf.sqrt(tf.sub(tf.div(tf.mul(av, 2), sb), b))), 2);
    const zStar = tf.mul(tf.sign(v), tf.pow(t, 3));
    const T = tf.mul(tf.pow(m, 0.75), (4 / 3) * Math.pow(1.5, 0.25));
    const keep = tf.logicalAnd(tf.greater(av, 0), tf.greaterEqual(av, T));
    return tf.where(keep, zStar, tf.zerosLike(v)) as tf.Tensor2D;
  });
}

/** Direct use (tests, library callers): options validated here; sweeps bind them once (define.ts). */
export function pdpgdL0(model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, options: PdpgdOptions = {}): Promise<AttackResult> {
  return runPdpgdL0(model, inputs, labels, pdpgdOptionsSchema.parse(options));
}

/** θ_i of the dual ascent: linear from dualLr to dualLr·dualLrDecrease (fraction 0 when N = 1). */
export function dualStep(o: Pick<Resolved, 'dualLr' | 'dualLrDecrease'>, i: number, steps: number): number {
  const frac = steps > 1 ? (steps - 1 - i) / (steps - 1) : 0;
  return o.dualLr * (frac * (1 - o.dualLrDecrease) + o.dualLrDecrease);
}

/** softmax over (0, λ1) per sample, [B, 2] */
function dualWeights(lam1: tf.Tensor1D): tf.Tensor2D {
  return tf.tidy(() => tf.softmax(tf.stack([tf.zerosLike(lam1), lam1], 1) as tf.Tensor2D) as tf.Tensor2D);
}

async function runPdpgdL0(model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, o: Resolved): Promise<AttackResult> {
  const [B, H, W, C] = inputs.shape;
  const d = H * W * C;
  const N = o.steps;
  const logMin = Math.log(o.dualMinRatio);
  const x = inputs.reshape([B, d]) as tf.Tensor2D;

  let r: tf.Tensor2D =
    o.randomInit > 0
      ? tf.tidy(() => boxDelta(x, tf.randomUniform([B, d], -o.randomInit, o.randomInit, 'float32', o.seed + 1)) as tf.Tensor2D)
      : (tf.zeros([B, d]) as tf.Tensor2D);
  let m1 = tf.zeros([B, d]) as tf.Tensor2D;
  let v2 = tf.zeros([B, d]) as tf.Tensor2D;
  let lam1 = tf.fill([B], -Math.log(o.dualRatioInit)) as tf.Tensor1D;
  let lamEma = dualWeights(lam1);
  let bestDist = tf.fill([B], Infinity) as tf.Tensor1D;
  let bestAdv = x.clone();

  const prox = (zin: tf.Tensor2D, mu: tf.Tensor1D): tf.Tensor2D =>
    o.proximalOperator === 'l0' ? (l0Prox(zin.reshape([B, H * W, C]) as tf.Tensor3D, mu).reshape([B, d]) as tf.Tensor2D) : l23Prox(zin, mu);

  for (let i = 0; i < N; i++) {
    const s = o.primalLr * o.primalLrDecrease ** (i / N);
    const bc1 = 1 - BETA1 ** (i + 1);
    const bc2Sqrt = Math.sqrt(1 - BETA2 ** (i + 1));
    // 1–2: evaluate, track best, Adam step, box; and the proximal-Adam scaling H and weight μ
    const step = tf.tidy(() => {
      const { logits, grad } = model.valueAndGrad(x.reshape([B, H, W, C]), r.reshape([B, H, W, C]), (lg) =>
        tf.sum(tf.softplus(tf.maximum(differenceOfLogits(lg, labels), 0))),
      );
      const margin = differenceOfLogits(logits, labels);
      logits.dispose();
      const advIn = tf.add(x, r);
      const dist = tf.cast(countNonZero(tf.sub(advIn, x)), 'float32');
      const better = tf.logicalAnd(tf.less(margin, 0), tf.less(dist, bestDist));
      const newBestDist = tf.where(better, dist, bestDist);
      const newBestAdv = tf.where(better.reshape([B, 1]), advIn, bestAdv);

      const g = grad.reshape([B, d]);
      const nm1 = tf.add(tf.mul(m1, BETA1), tf.mul(g, 1 - BETA1));
      const nv2 = tf.add(tf.mul(v2, BETA2), tf.mul(tf.mul(g, 1 - BETA2), g));
      const denom = tf.add(tf.div(tf.sqrt(nv2), bc2Sqrt), ADAM_EPS);
      const rStep = boxDelta(x, tf.add(r, tf.div(tf.mul(nm1, -s / bc1), denom)));
      const psiMax = tf.max(denom, 1, true);
      const hDiv = tf.div(denom, psiMax);
      const ema = tf.unstack(lamEma, 1);
      const mu = tf.mul(tf.div(ema[0], ema[1]), tf.div(s, psiMax.reshape([B])));
      return { margin, bestDist: newBestDist, bestAdv: newBestAdv, m1: nm1, v2: nv2, r: rStep, hDiv, mu } as Record<string, tf.Tensor>;
    });
    tf.dispose([r, m1, v2, bestDist, bestAdv]);
    m1 = step.m1 as tf.Tensor2D;
    v2 = step.v2 as tf.Tensor2D;
    bestDist = step.bestDist as tf.Tensor1D;
    bestAdv = step.bestAdv as tf.Tensor2D;
    const rAdam = step.r as tf.Tensor2D;

    // 3: proximal Adam sub-iterations (no model calls)
    let zCur = rAdam.clone();
    let e = tf.ones([B]) as tf.Tensor1D;
    for (let k = 0; k < o.proximalSteps; k++) {
      const next = tf.tidy(() => {
        const zIn = tf.add(zCur, tf.mul(tf.sub(rAdam, zCur), step.hDiv)) as tf.Tensor2D;
        const zNew = boxDelta(x, prox(zIn, step.mu as tf.Tensor1D));
        const z2 = tf.where(tf.greater(e, o.epsThreshold).reshape([B, 1]), zNew, zCur) as tf.Tensor2D;
        const e2 = tf.div(perSampleNorm(tf.sub(z2, zCur) as tf.Tensor2D, 2), perSampleNorm(z2, 2)).reshape([B]) as tf.Tensor1D;
        return { z: z2, e: e2 };
      });
      tf.dispose([zCur, e]);
      zCur = next.z;
      e = next.e;
      const ev = await e.data();
      if (Array.from(ev).every((val) => val < o.epsThreshold)) break; // NaN never < threshold
    }
    e.dispose();
    rAdam.dispose();
    r = zCur;

    // 4: dual ascent on λ1 and the EMA of the dual weights
    const theta = dualStep(o, i, N);
    const dual = tf.tidy(() => {
      const l1 = tf.clipByValue(tf.add(lam1, tf.mul(tf.sign(step.margin), theta)), logMin, -logMin) as tf.Tensor1D;
      const em = tf.add(tf.mul(lamEma, o.dualEma), tf.mul(dualWeights(l1), 1 - o.dualEma)) as tf.Tensor2D;
      return { l1, em };
    });
    tf.dispose([lam1, lamEma, step.margin, step.hDiv, step.mu]);
    lam1 = dual.l1;
    lamEma = dual.em;
    if (i % 10 === 9) await yieldToEventLoop();
  }

  const adversarials = bestAdv.reshape([B, H, W, C]) as tf.Tensor4D;
  const best = Array.from(await bestDist.data());
  const ema = await lamEma.data();
  const finalDualRatio = Array.from({ length: B }, (_, k) => ema[2 * k] / ema[2 * k + 1]);
  tf.dispose([x, r, m1, v2, lam1, lamEma, bestDist, bestAdv]);
  return { adversarials, diagnostics: { claimedL0: best.map((b) => (Number.isFinite(b) ? b : -1)), finalDualRatio } };
}

export const pdpgdL0Attack = defineAttack({
  name: 'pdpgd-l0',
  description: 'PDPGD ℓ0 (adv_lib): Adam on softplus of the margin, proximal Adam with a pixel-grouped ℓ0 (or ℓ2/3) prox, dual ascent',
  options: pdpgdOptionsSchema,
  run: (model, inputs, labels, o) => runPdpgdL0(model, inputs, labels, o),
});
