/**
 * Exact minimum ℓ0 adversarial for a multiclass linear classifier f(x) = xW + b on the box [0,1]^d.
 * For a target class j the margin m_j = (w_y − w_j)·x + b_y − b_j must drop below 0; feature i can
 * lower it by at most r_i = a_i·x_i (a_i > 0, push x_i to 0) or −a_i·(1 − x_i) (a_i < 0, push to 1).
 * Any k features lower it by at most the sum of the k largest r_i, so the smallest k whose top-k sum
 * exceeds m_j is exact for j, and the minimum over j ≠ y is the minimum ℓ0 (greedy is optimal).
 */
export function linearMinL0(W: Float32Array, b: Float32Array, d: number, classes: number, x: Float32Array, y: number): number {
  let best = Infinity;
  for (let j = 0; j < classes; j++) {
    if (j === y) continue;
    let m = b[y] - b[j];
    const r: number[] = [];
    for (let i = 0; i < d; i++) {
      const a = W[i * classes + y] - W[i * classes + j];
      m += a * x[i];
      r.push(a > 0 ? a * x[i] : -a * (1 - x[i]));
    }
    if (m <= 0) return 0;
    r.sort((p, q) => q - p);
    let acc = 0;
    for (let k = 0; k < d && k + 1 < best; k++) {
      acc += r[k];
      if (acc > m) {
        best = k + 1;
        break;
      }
    }
  }
  return best;
}
