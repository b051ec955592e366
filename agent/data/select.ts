/**
 * Sample selection (all, first n, an explicit index list), checked against the size of the split:
 * the one definition the spec validator and the tests use.
 */
export type Selection = { kind: 'all' } | { kind: 'first'; n: number } | { kind: 'indices'; indices: readonly unknown[] };

export interface SelectionProblem {
  /** where, relative to the selection: `first`, `indices[3]` */
  at: string;
  message: string;
}

/** The selected indices, and every problem found (an empty list when the selection is valid). */
export function checkSelection(sel: Selection, count: number, what = 'the set'): { indices: number[]; problems: SelectionProblem[] } {
  const problems: SelectionProblem[] = [];
  switch (sel.kind) {
    case 'all':
      return { indices: Array.from({ length: count }, (_, i) => i), problems };
    case 'first': {
      if (!Number.isInteger(sel.n) || sel.n < 1) problems.push({ at: 'first', message: `${sel.n} is not a positive integer` });
      else if (sel.n > count) problems.push({ at: 'first', message: `${sel.n} exceeds the ${count} samples of ${what}` });
      const n = Number.isInteger(sel.n) ? Math.max(0, Math.min(sel.n, count)) : 0;
      return { indices: Array.from({ length: n }, (_, i) => i), problems };
    }
    case 'indices': {
      const seen = new Set<number>();
      const indices: number[] = [];
      sel.indices.forEach((v, k) => {
        const at = `indices[${k}]`;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= count) problems.push({ at, message: `${v} is not an index in 0..${count - 1} (outside ${what})` });
        else if (seen.has(v)) problems.push({ at, message: `index ${v} appears twice` });
        else (seen.add(v), indices.push(v));
      });
      if (sel.indices.length === 0) problems.push({ at: 'indices', message: 'selects no sample' });
      return { indices, problems };
    }
  }
}

/** The selected indices; throws RangeError with the first problem. */
export function resolveSelection(sel: Selection, count: number): number[] {
  const { indices, problems } = checkSelection(sel, count);
  if (problems.length) throw new RangeError(`${problems[0].at}: ${problems[0].message}`);
  return indices;
}

/** Gather samples `indices` of a flat [N, ...sampleShape] array into a new contiguous array. */
export function gather(images: Float32Array, sampleSize: number, indices: readonly number[]): Float32Array {
  const out = new Float32Array(indices.length * sampleSize);
  indices.forEach((idx, k) => out.set(images.subarray(idx * sampleSize, (idx + 1) * sampleSize), k * sampleSize));
  return out;
}
