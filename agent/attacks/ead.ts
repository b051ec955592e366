/**
 * EAD (elastic-net attack, ℓ1 with the EN decision rule): foolbox v3.3.3 `attacks/ead.py`, as σ-zero's
 * `EAD_attack` wrapper runs it; spec §4.4.
 *
 * Binary search (9 steps) over the per-sample constant c (init 1e−3; found → upper = c, else lower = c;
 * c = (lower+upper)/2, or 10·c while no upper bound). Each search step runs `steps` FISTA iterations
 * from x: lr_t = 0.01·√(1 − t/steps); gradient of Σ[c·max(0, f_y − f_o + κ) + ‖y_k − x‖²] at y_k
 * (o = best other class); ISTA shrinkage with β around x inside [0,1]; momentum t/(t+3); early abort
 * every ⌈steps/10⌉ iterations when the batch-summed loss > 0.9999 × its previous value; then a
 * forward on x_k and the EN rule (keep adversarial x_k with smaller β‖·‖₁ + ‖·‖₂²).
 * Cost: 2F + 1B per iteration for the whole batch.
 *
 * Deviation, on purpose: foolbox initialises its best output to zeros, so samples never fooled
 * come back as an all-black image (which an evaluator may count as a "success" with a huge ℓ0).
 * Here failures return x, so an all-zero image is never reported for a failure.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { AttackResult, Classifier } from './types.ts';
import { differenceOfLogits, predict } from './losses.ts';
import { defineAttack, yieldToEventLoop } from './define.ts';

export const eadOptionsSchema = z
  .object({
    /** FISTA iterations per binary-search step */
    steps: z.number().int().min(1).default(10000),
    binarySearchSteps: z.number().int().min(1).default(9),
    initialConst: z.number().positive().default(1e-3),
    regularization: z.number().min(0).default(1e-2),
    initialStepsize: z.number().positive().default(1e-2),
    confidence: z.number().min(0).default(0),
    abortEarly: z.boolean().default(true),
  })
  .strict();
export type EadOptions = z.input<typeof eadOptionsSchema>;

/** Direct use (tests, library callers): options validated here; sweeps bind them once (define.ts). */
export function ead(model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, options: EadOptions = {}): Promise<AttackResult> {
  return runEad(model, inputs, labels, eadOptionsSchema.parse(options));
}

async function runEad(model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, o: z.output<typeof eadOptionsSchema>): Promise<AttackResult> {
  const [B, H, W, C] = inputs.shape;
  const shape4 = [B, H, W, C] as [number, number, number, number];
  const beta = o.regularization;
  const x = inputs;
  const consts = new Array<number>(B).fill(o.initialConst);
  const lower = new Array<number>(B).fill(0);
  const upper = new Array<number>(B).fill(Infinity);
  const bestScore = new Array<number>(B).fill(Infinity);
  let best = x.clone(); // failures return x (see the header)
  const checkEvery = Math.ceil(o.steps / 10);

  for (let bs = 0; bs < o.binarySearchSteps; bs++) {
    const foundNow = new Array<boolean>(B).fill(false);
    const cT = tf.tensor1d(consts);
    let xk = x.clone();
    let yk = x.clone();
    let prevCheck = Infinity;
    for (let t = 0; t < o.steps; t++) {
      const lr = o.initialStepsize * Math.sqrt(1 - t / o.steps);
      const zero = tf.zeros(shape4) as tf.Tensor4D;
      let lossValue = 0;
      const { logits, grad } = model.valueAndGrad(yk, zero, (lg, dd) => {
        const m = tf.relu(tf.add(differenceOfLogits(lg, labels), o.confidence));
        const dist = tf.sum(tf.square(tf.sub(tf.add(yk, dd), x)), [1, 2, 3]);
        const total = tf.sum(tf.add(tf.mul(cT, m), dist)) as tf.Scalar;
        return total;
      });
      // the loss value at y_k (same forward), for the early abort
      lossValue = tf.tidy(() => {
        const m = tf.relu(tf.add(differenceOfLogits(logits, labels), o.confidence));
        const dist = tf.sum(tf.square(tf.sub(yk, x)), [1, 2, 3]);
        return tf.sum(tf.add(tf.mul(cT, m), dist)).dataSync()[0];
      });
      logits.dispose();
      zero.dispose();
      const next = tf.tidy(() => {
        const z = tf.sub(yk, tf.mul(grad, lr));
        const diff = tf.sub(z, x);
        const up = tf.minimum(tf.sub(z, beta), 1);
        const down = tf.maximum(tf.add(z, beta), 0);
        const xNew = tf.where(tf.greater(diff, beta), up, tf.where(tf.less(diff, -beta), down, x)) as tf.Tensor4D;
        const yNew = tf.add(xNew, tf.mul(tf.sub(xNew, xk), t / (t + 3))) as tf.Tensor4D;
        return { xNew, yNew };
      });
      grad.dispose();
      tf.dispose([xk, yk]);
      xk = next.xNew;
      yk = next.yNew;
      if (o.abortEarly && t % checkEvery === 0) {
        if (lossValue > 0.9999 * prevCheck) break;
        prevCheck = lossValue;
      }
      // adversarial check on x_k and the EN decision rule
      const check = tf.tidy(() => {
        const pred = predict(model.forward(xk));
        const delta = tf.sub(xk, x);
        const score = tf.add(tf.mul(tf.sum(tf.abs(delta), [1, 2, 3]), beta), tf.sum(tf.square(delta), [1, 2, 3]));
        return { adv: tf.notEqual(pred, labels), score };
      });
      const [adv, score] = [await check.adv.data(), await check.score.data()];
      tf.dispose([check.adv, check.score]);
      const improve = Array.from({ length: B }, (_, k) => Boolean(adv[k]) && score[k] < bestScore[k]);
      for (let k = 0; k < B; k++) if (adv[k]) foundNow[k] = true; // any adversarial x_k, as foolbox counts it
      if (improve.some(Boolean)) {
        improve.forEach((v, k) => {
          if (v) bestScore[k] = score[k];
        });
        const nb = tf.tidy(() => tf.where(tf.tensor1d(improve.map(Number), 'bool').reshape([B, 1, 1, 1]), xk, best)) as tf.Tensor4D;
        best.dispose();
        best = nb;
      }
      if (t % 10 === 9) await yieldToEventLoop();
    }
    tf.dispose([xk, yk, cT]);
    for (let k = 0; k < B; k++) {
      if (foundNow[k]) upper[k] = Math.min(upper[k], consts[k]);
      else lower[k] = Math.max(lower[k], consts[k]);
      consts[k] = upper[k] < Infinity ? (lower[k] + upper[k]) / 2 : consts[k] * 10;
    }
  }
  return { adversarials: best, diagnostics: { found: bestScore.map((s) => (Number.isFinite(s) ? 1 : 0)), finalConst: consts } };
}

export const eadAttack = defineAttack({
  name: 'ead',
  description: 'EAD (elastic-net ℓ1, EN rule): 9 binary-search steps × steps FISTA iterations; failures return x',
  options: eadOptionsSchema,
  run: runEad,
});
