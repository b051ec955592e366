/**
 * Evaluation of returned adversarials, as the σ-zero evaluation code does it: success is decided by
 * a fresh forward on what the attack returned, and distances are counted on the returned input:
 * ℓ0 = features whose float32 value differs from the clean input (per feature, not per pixel).
 */
import type { SampleResult } from '../schema/wire.ts';

export function perturbationStats(
  clean: Float32Array,
  adv: Float32Array,
  d: number,
  i: number,
): Pick<SampleResult, 'l0' | 'l1' | 'l2' | 'linf' | 'pertIndices' | 'pertValues'> {
  const pertIndices: number[] = [];
  const pertValues: number[] = [];
  let l1 = 0;
  let l2 = 0;
  let linf = 0;
  const off = i * d;
  for (let j = 0; j < d; j++) {
    const diff = Math.fround(adv[off + j] - clean[off + j]);
    if (diff !== 0) {
      pertIndices.push(j);
      pertValues.push(adv[off + j]);
      const a = Math.abs(diff);
      l1 += a;
      l2 += a * a;
      if (a > linf) linf = a;
    }
  }
  return { l0: pertIndices.length, l1, l2: Math.sqrt(l2), linf, pertIndices, pertValues };
}
