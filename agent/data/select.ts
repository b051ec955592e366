/** Sample selection: all, first n, or an explicit index list; always validated against the set size. */
export type Selection = { kind: 'all' } | { kind: 'first'; n: number } | { kind: 'indices'; indices: number[] };

export function resolveSelection(sel: Selection, count: number): number[] {
  switch (sel.kind) {
    case 'all':
      return Array.from({ length: count }, (_, i) => i);
    case 'first':
      if (!Number.isInteger(sel.n) || sel.n < 1 || sel.n > count) {
        throw new RangeError(`first: n=${sel.n} must be an integer in 1..${count}`);
      }
      return Array.from({ length: sel.n }, (_, i) => i);
    case 'indices': {
      const seen = new Set<number>();
      for (const i of sel.indices) {
        if (!Number.isInteger(i) || i < 0 || i >= count) throw new RangeError(`index ${i} is outside 0..${count - 1}`);
        if (seen.has(i)) throw new RangeError(`index ${i} appears twice`);
        seen.add(i);
      }
      return [...sel.indices];
    }
  }
}

/** Gather samples `indices` of a flat [N, ...sampleShape] array into a new contiguous array. */
export function gather(images: Float32Array, sampleSize: number, indices: number[]): Float32Array {
  const out = new Float32Array(indices.length * sampleSize);
  indices.forEach((idx, k) => out.set(images.subarray(idx * sampleSize, (idx + 1) * sampleSize), k * sampleSize));
  return out;
}
