/**
 * The σ-zero evaluation's sample subsets: `random.seed(1233); random.sample(range(1, N), n)` in
 * CPython, N the size of the test split (10000 for MNIST and CIFAR-10, 50000 for the ImageNet
 * validation set), n = 1000 or 100. The lists were generated once by
 * scripts/data/paper_samples.py and are committed next to this module (paper-samples/N<N>-n<n>.json);
 * the order is the order drawn. The 100-sample list is the first 100 of the 1000-sample one
 * (random.sample picks one index at a time from the same generator for both sizes).
 */
import { readFileSync } from 'node:fs';

/** The list sizes shipped, per N. */
export const PAPER_SAMPLE_COUNTS: Readonly<Record<number, readonly number[]>> = { 10_000: [1000, 100], 50_000: [1000, 100] };

const cache = new Map<string, number[]>();

/** The paper's n indices into a split of N samples, or undefined when no such list is shipped. */
export function paperSamples(N: number, n: number): number[] | undefined {
  if (!PAPER_SAMPLE_COUNTS[N]?.includes(n)) return undefined;
  const key = `N${N}-n${n}`;
  let list = cache.get(key);
  if (!list) {
    const doc = JSON.parse(readFileSync(new URL(`./paper-samples/${key}.json`, import.meta.url), 'utf8')) as { N: number; n: number; indices: number[] };
    if (doc.N !== N || doc.n !== n || doc.indices.length !== n) throw new Error(`paper-samples/${key}.json holds N=${doc.N}, n=${doc.n}, ${doc.indices.length} indices`);
    cache.set(key, (list = doc.indices));
  }
  return [...list];
}
