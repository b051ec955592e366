/**
 * Sample-wise binary search over the budget k: turns a fixed-budget attack into a minimum-norm one
 * (σ-zero repo `BinarySearchMinimalWrapperL0` at efe146b; spec §3).
 *
 * State per sample: lo = 0, best = K_MAX, found = false, k = k0 (100). One clean forward first
 * (counted, as in the σ-zero version). Then S search steps (10): group the samples by k and run a
 * fresh call of the attack per distinct k > 0 (k = 0 keeps x); one forward on the results; a sample
 * that is adversarial with k < best takes the result and best = k, otherwise lo = k; next k =
 * ⌊(lo + best)/2⌋ once found or when doubling would reach best, else 2·lo.
 *
 * Deviation, on purpose: K_MAX = min(1000, maxBudget + 1), where maxBudget is what the input has
 * (features for Sparse-RS, pixels for PGD-ℓ0), so no call ever asks for more than exists (the
 * reference crashes at k > d on MNIST). For inputs with ≥ 1000 units the k sequence is the
 * reference's: 100, 200, 400, 800, 900, 950, … on failures; 100, 50, 25, 12, 6, 3, 1, 0 on successes.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { Attack, AttackResult, Classifier } from './types.ts';
import { predict } from './losses.ts';
import { budgetCapacity, defineAttack, type AttackDefinition, type BudgetUnit } from './define.ts';

export interface BudgetSearchConfig<O> {
  attack: Attack<O & { k: number; steps: number }>;
  /** options of the wrapped attack (k and steps are set by the search) */
  options: O;
  /** steps of each inner call (the paper: N/10) */
  innerSteps: number;
  /** largest budget the input allows, in the attack's own unit */
  maxBudget: number;
  k0?: number;
  searchSteps?: number;
  /** called with the k of every sample before each search step (tests, diagnostics) */
  onStep?: (ks: number[]) => void;
}

export function nextBudget(lo: number, best: number, found: boolean): number {
  return found || 2 * lo >= best ? Math.floor((lo + best) / 2) : 2 * lo;
}

export async function budgetSearch<O>(model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, cfg: BudgetSearchConfig<O>): Promise<AttackResult> {
  const [B, H, W, C] = inputs.shape;
  const d = H * W * C;
  const S = cfg.searchSteps ?? 10;
  const kMax = Math.min(1000, cfg.maxBudget + 1);
  const y = Array.from(await labels.data());
  const out = Float32Array.from(await inputs.data());
  tf.tidy(() => model.forward(inputs)).dispose(); // the reference's initial clean forward (counted, unused)

  const lo = new Array<number>(B).fill(0);
  const best = new Array<number>(B).fill(kMax);
  const found = new Array<boolean>(B).fill(false);
  let ks = new Array<number>(B).fill(Math.min(cfg.k0 ?? 100, kMax - 1));
  for (let s = 0; s < S; s++) {
    cfg.onStep?.([...ks]);
    const results = new Float32Array(out.length);
    results.set(await inputs.data());
    const groups = new Map<number, number[]>();
    ks.forEach((k, i) => {
      if (k > 0) groups.set(k, [...(groups.get(k) ?? []), i]);
    });
    for (const [k, idx] of [...groups.entries()].sort((a, b) => a[0] - b[0])) {
      const idxT = tf.tensor1d(idx, 'int32');
      const xs = tf.gather(inputs, idxT) as tf.Tensor4D;
      const ys = tf.gather(labels, idxT) as tf.Tensor1D;
      const r = await cfg.attack(model, xs, ys, { ...cfg.options, k, steps: cfg.innerSteps });
      const adv = await r.adversarials.data();
      idx.forEach((i, j) => results.set(adv.subarray(j * d, (j + 1) * d), i * d));
      tf.dispose([idxT, xs, ys, r.adversarials]);
    }
    const pred = tf.tidy(() => predict(model.forward(tf.tensor4d(results, [B, H, W, C]))));
    const p = await pred.data();
    pred.dispose();
    for (let i = 0; i < B; i++) {
      const adv = p[i] !== y[i];
      if (adv && ks[i] < best[i]) {
        out.set(results.subarray(i * d, (i + 1) * d), i * d);
        best[i] = ks[i];
        found[i] = true;
      } else {
        lo[i] = ks[i];
      }
    }
    ks = ks.map((_, i) => nextBudget(lo[i], best[i], found[i]));
  }
  return { adversarials: tf.tensor4d(out, [B, H, W, C]), diagnostics: { bestBudget: best.map((b, i) => (found[i] ? b : -1)) } };
}

/** What the search itself adds to the inner attack's options (which keep everything but k). */
type SearchOptions = { steps: number; k0: number; searchSteps: number; [option: string]: unknown };

/**
 * A minimum-norm attack from a fixed-budget one: the budget search around it. Its options are the
 * inner attack's without k (the search sets it), plus the total step budget, k0 and searchSteps.
 */
export function defineBudgetSearch(cfg: {
  name: string;
  description: string;
  /** the fixed-budget attack: its strict options schema (with k and steps) and its typed run function */
  inner: { options: z.AnyZodObject; run: Attack<never> };
  unit: BudgetUnit;
}): AttackDefinition {
  // The two casts of the registry, both here: zod's omit/extend on a schema known only as "some
  // object" loses the field types, and `rest` below (the inner output without k and steps, which
  // the search sets per call) cannot be tied to the inner run's parameter type generically.
  const options = cfg.inner.options.omit({ k: true }).extend({
    steps: z.number().int().min(1).default(100),
    k0: z.number().int().min(1).default(100),
    searchSteps: z.number().int().min(1).default(10),
  }) as z.ZodType<SearchOptions, z.ZodTypeDef, unknown>;
  const inner = cfg.inner.run as Attack<Record<string, unknown>>;
  return defineAttack({
    name: cfg.name,
    description: cfg.description,
    options,
    run: (model, inputs, labels, o) => {
      const { steps, k0, searchSteps, ...rest } = o;
      return budgetSearch(model, inputs, labels, {
        attack: inner,
        options: rest,
        innerSteps: Math.max(1, Math.round(steps / searchSteps)),
        maxBudget: budgetCapacity(cfg.unit, inputs.shape.slice(1)),
        k0,
        searchSteps,
      });
    },
  });
}
