/**
 * The per-sample trust-region step of the Brendel & Bethge ℓ0 attack (spec §4.7 step 7; foolbox
 * v3.3.3 `brendel_bethge.py`, `Optimizer.solve` and `L0Optimizer`), in plain TypeScript on
 * Float64Arrays (no tensors). For one sample with clean point x0, current point x, boundary normal
 * b, target change c and radius r it returns δ solving
 *
 *     min ‖x + δ − x0‖₀   s.t.   b·δ = c,   ‖δ‖₂ ≤ r,   lo ≤ x + δ ≤ hi.
 *
 * Order, as the reference:
 *  1. the most b·δ can reach in the box (`maxReachable`). Unreachable → `boundaryStep` (largest
 *     step toward the boundary inside box ∩ ball). Reachable but the box corner is farther than r →
 *     minimal ℓ2 norm needed to reach the boundary (`minNormToBoundary`); above r → `boundaryStep`.
 *  2. otherwise the ℓ0 sub-problem: `greedyFill` (coordinates moved, from x0, to their box limit in
 *     decreasing order of their possible contribution to b·δ, the last one partially: the exact
 *     minimum-ℓ0 solution without the trust region); used when its norm ≤ r;
 *  3. else a Nelder–Mead search (tol_f 1e−9, 1000 iterations, start (0,0), simplex steps 0.00025)
 *     maximising the dual g(λ, μ ≥ 0) of ‖δ − (x0 − x)‖₀ + λ(b·δ − c) + μ(‖δ‖² − r²), whose inner
 *     minimiser is closed form per coordinate (`dualValue`, `innerMinimiser`); then a touch-up of one
 *     coordinate to meet b·δ = c inside box and ball (fewest changed coordinates, then smallest
 *     norm); fallbacks (λ ± 1e−5, μ ± 1e−5), finally the inner minimiser without touch-up.
 *
 * Deviations, on purpose (all in `boundaryStep` and `minNormToBoundary`):
 *  - the reference finds the multiplier of the boundary step with a box-constrained BFGS on μ and
 *    then returns −b/(2μ) clipped, whatever the sign of c; for c > 0 (adversarial point, boundary
 *    out of reach) that moves away from the boundary although the spec says "toward". Here the step
 *    is clip(t·sign(c)·b) with t found by bisection so that ‖δ‖₂ = r (or t = ∞ when the whole box
 *    corner fits): the exact maximiser of sign(c)·b·δ over box ∩ ball.
 *  - `minNormToBoundary` bisects the same 1-D family to 1e−12 relative accuracy where the
 *    reference stops at 0.1 % of c.
 * The Nelder–Mead is written from the textbook algorithm (Lagarias et al. 1998: reflection 1,
 * expansion 2, contraction 0.5, shrink 0.5), infeasible points (μ < 0) valued +∞.
 */

export interface Box {
  lo: number;
  hi: number;
}

const UNIT: Box = { lo: 0, hi: 1 };

/** Largest |b·δ| reachable in the box in the direction of sign(c), and the norm of that corner step. */
export function maxReachable(x: Float64Array, b: Float64Array, c: number, box: Box = UNIT): { cmax: number; norm: number } {
  let cmax = 0;
  let sq = 0;
  for (let n = 0; n < x.length; n++) {
    // c > 0: raise b·δ (b>0 → hi, else lo); c ≤ 0: lower it (b>0 → lo, else hi)
    const toHi = c > 0 ? b[n] > 0 : !(b[n] > 0);
    const d = (toHi ? box.hi : box.lo) - x[n];
    cmax += b[n] * d;
    sq += d * d;
  }
  return { cmax, norm: Math.sqrt(sq) };
}

/** δ(t) = clip(t·s·b, lo − x, hi − x) (t ≥ 0, t = ∞ allowed); returns s·b·δ and ‖δ‖². Writes δ into `out` when given. */
function clippedRay(x: Float64Array, b: Float64Array, s: number, t: number, box: Box, out?: Float64Array): { gain: number; sq: number } {
  let gain = 0;
  let sq = 0;
  for (let n = 0; n < x.length; n++) {
    const sb = s * b[n];
    let d = sb === 0 ? 0 : t === Infinity ? (sb > 0 ? Infinity : -Infinity) : t * sb;
    if (d < box.lo - x[n]) d = box.lo - x[n];
    else if (d > box.hi - x[n]) d = box.hi - x[n];
    if (out) out[n] = d;
    gain += sb * d;
    sq += d * d;
  }
  return { gain, sq };
}

/** Smallest t ≥ 0 with pred(t) true, for pred monotone in t (false at 0); Infinity when none below 2^200·t0. */
function bisectT(pred: (t: number) => boolean, t0: number): number {
  let lo = 0;
  let hi = t0 > 0 && Number.isFinite(t0) ? t0 : 1;
  let k = 0;
  while (!pred(hi)) {
    lo = hi;
    hi *= 2;
    if (++k > 1100) return Infinity;
  }
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (pred(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Minimal ‖δ‖₂ with b·δ = c inside the box (δ = clip(t·sign(c)·b)); Infinity when c is out of reach. */
export function minNormToBoundary(x: Float64Array, b: Float64Array, c: number, box: Box = UNIT): number {
  if (c === 0) return 0;
  const s = Math.sign(c);
  const target = Math.abs(c);
  let bb = 0;
  for (let n = 0; n < b.length; n++) bb += b[n] * b[n];
  if (clippedRay(x, b, s, Infinity, box).gain < target) return Infinity;
  const t = bisectT((tt) => clippedRay(x, b, s, tt, box).gain >= target, target / (bb + 1e-300));
  return Math.sqrt(clippedRay(x, b, s, t, box).sq);
}

/** Largest step toward the boundary (maximal sign(c)·b·δ) inside box ∩ {‖δ‖₂ ≤ r}. */
export function boundaryStep(x: Float64Array, b: Float64Array, c: number, r: number, box: Box = UNIT): Float64Array {
  const delta = new Float64Array(x.length);
  const s = c >= 0 ? 1 : -1;
  if (clippedRay(x, b, s, Infinity, box).sq <= r * r) {
    clippedRay(x, b, s, Infinity, box, delta);
    return delta;
  }
  let bb = 0;
  for (let n = 0; n < b.length; n++) bb += b[n] * b[n];
  // the largest t whose step still fits: bisect on "‖δ(t)‖ > r", take the lower side
  let lo = 0;
  let hi = r / Math.sqrt(bb);
  while (clippedRay(x, b, s, hi, box).sq <= r * r) {
    lo = hi;
    hi *= 2;
  }
  for (let i = 0; i < 200 && hi - lo > 1e-13 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (clippedRay(x, b, s, mid, box).sq <= r * r) lo = mid;
    else hi = mid;
  }
  clippedRay(x, b, s, lo, box, delta);
  return delta;
}

/**
 * Greedy fill from x0 (spec §4.7 step 7, reference `minimize_without_trustregion`): δ starts at
 * x0 − x; coordinates move to the box limit that pushes b·δ toward c, largest |contribution|
 * first, the last one only as far as needed. Returns δ and ‖δ‖₂.
 */
export function greedyFill(x0: Float64Array, x: Float64Array, b: Float64Array, c: number, box: Box = UNIT): { delta: Float64Array; norm: number } {
  const N = x0.length;
  const delta = new Float64Array(N);
  let bd = 0;
  for (let n = 0; n < N; n++) {
    delta[n] = x0[n] - x[n];
    bd += b[n] * delta[n];
  }
  const need = c - bd;
  const move = new Float64Array(N);
  const gain = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    // the reference's four cases: b>0,need>0 → hi; b>0,need<0 → lo; b<0,need>0 → lo; otherwise hi
    const up = b[n] > 0 ? !(need < 0) : !(b[n] < 0 && need > 0);
    move[n] = (up ? box.hi : box.lo) - x0[n];
    gain[n] = move[n] * b[n];
  }
  const order = Array.from({ length: N }, (_, n) => n).sort((i, j) => Math.abs(gain[j]) - Math.abs(gain[i]) || i - j);
  for (const n of order) {
    if (Math.abs(c - bd) > Math.abs(gain[n])) {
      delta[n] += move[n];
      bd += gain[n];
    } else {
      delta[n] += (c - bd) / (b[n] + 1e-20);
      break;
    }
  }
  let sq = 0;
  for (let n = 0; n < N; n++) sq += delta[n] * delta[n];
  return { delta, norm: Math.sqrt(sq) };
}

/**
 * Inner minimiser of ‖δ − dx‖₀ + λ b·δ + μ‖δ‖² per coordinate (dx = x0 − x): keep dx (cost
 * λ b dx + μ dx²) or move to clip(−λ b / 2μ) (cost 1 + …); with μ ≤ 0, the move goes to a box limit.
 * Writes δ into `delta`; returns the Lagrangian part Σ(cost) and the number of coordinates that took the "move" branch.
 */
export function innerMinimiser(lam: number, mu: number, x0: Float64Array, x: Float64Array, b: Float64Array, box: Box, delta: Float64Array): { value: number; moved: number } {
  let value = 0;
  let moved = 0;
  for (let n = 0; n < x0.length; n++) {
    const dx = x0[n] - x[n];
    const bn = b[n];
    const lo = box.lo - x[n];
    const hi = box.hi - x[n];
    const keep = lam * bn * dx + mu * dx * dx;
    let d: number;
    let cost: number;
    if (mu > 0) {
      let opt = (-lam * bn) / (2 * mu);
      if (opt < lo) opt = lo;
      else if (opt > hi) opt = hi;
      const change = 1 + lam * bn * opt + mu * opt * opt;
      if (keep <= change) [d, cost] = [dx, keep];
      else [d, cost, moved] = [opt, change, moved + 1];
    } else {
      // the reference's μ = 0 branch: the move goes to a box limit (μ·d² then still added)
      const cLo = 1 + lam * bn * lo;
      const cHi = 1 + lam * bn * hi;
      if (lam * bn * dx <= cLo && lam * bn * dx <= cHi) [d, cost] = [dx, keep];
      else if (cLo < cHi) [d, cost, moved] = [lo, 1 + mu * lo * lo + lam * bn * lo, moved + 1];
      else [d, cost, moved] = [hi, 1 + mu * hi * hi + lam * bn * hi, moved + 1];
    }
    delta[n] = d;
    value += cost;
  }
  return { value, moved };
}

/** Dual function g(λ, μ) = min_δ [‖δ − dx‖₀ + λ b·δ + μ‖δ‖²] − λc − μr² (maximised over λ, μ ≥ 0). */
export function dualValue(lam: number, mu: number, x0: Float64Array, x: Float64Array, b: Float64Array, c: number, r: number, box: Box = UNIT, scratch?: Float64Array): number {
  const { value } = innerMinimiser(lam, mu, x0, x, b, box, scratch ?? new Float64Array(x0.length));
  return value - mu * r * r - lam * c;
}

/** Nelder–Mead minimisation of f on R² (Lagarias et al.: ρ 1, χ 2, γ 0.5, σ 0.5); stops when f_worst − f_best < tolF or after maxIter. */
export function nelderMead2(f: (p: [number, number]) => number, start: [number, number], tolF = 1e-9, maxIter = 1000): { point: [number, number]; value: number; iterations: number } {
  const simplex: [number, number][] = [start, [...start] as [number, number], [...start] as [number, number]];
  for (let i = 0; i < 2; i++) simplex[i + 1][i] = simplex[i + 1][i] !== 0 ? simplex[i + 1][i] * 1.05 : 0.00025;
  let vals = simplex.map(f);
  let it = 0;
  const comb = (a: [number, number], s: number, d: [number, number]): [number, number] => [a[0] + s * (d[0] - a[0]), a[1] + s * (d[1] - a[1])];
  for (; ; it++) {
    const order = [0, 1, 2].sort((i, j) => vals[i] - vals[j]);
    const [bi, mi, wi] = order;
    if (!(vals[wi] - vals[bi] >= tolF) || it >= maxIter) {
      return { point: simplex[bi], value: vals[bi], iterations: it };
    }
    const centroid: [number, number] = [(simplex[bi][0] + simplex[mi][0]) / 2, (simplex[bi][1] + simplex[mi][1]) / 2];
    const xr = comb(centroid, -1, simplex[wi]); // centroid + (centroid − worst)
    const fr = f(xr);
    if (fr < vals[bi]) {
      const xe = comb(centroid, -2, simplex[wi]);
      const fe = f(xe);
      if (fe < fr) [simplex[wi], vals[wi]] = [xe, fe];
      else [simplex[wi], vals[wi]] = [xr, fr];
    } else if (fr < vals[mi]) {
      [simplex[wi], vals[wi]] = [xr, fr];
    } else {
      const outside = fr < vals[wi];
      const xc = outside ? comb(centroid, -0.5, simplex[wi]) : comb(centroid, 0.5, simplex[wi]);
      const fc = f(xc);
      if (fc < (outside ? fr : vals[wi])) [simplex[wi], vals[wi]] = [xc, fc];
      else {
        for (const i of [mi, wi]) simplex[i] = comb(simplex[bi], 0.5, simplex[i]);
        vals = simplex.map((p, i) => (i === bi ? vals[i] : f(p)));
      }
    }
  }
}

/**
 * δ from the dual point (λ, μ): the inner minimiser, then (touchUp) one coordinate changed so that
 * b·δ = c exactly, inside box and ball, choosing the fewest resulting changed coordinates, then the
 * smallest norm (first index on full ties). Null when no coordinate can do it.
 */
export function finalDelta(lam: number, mu: number, x0: Float64Array, x: Float64Array, b: Float64Array, c: number, r: number, box: Box, touchUp: boolean): Float64Array | null {
  const N = x0.length;
  const delta = new Float64Array(N);
  const { moved } = innerMinimiser(lam, mu, x0, x, b, box, delta);
  if (!touchUp) return delta;
  let bd = 0;
  let sq = 0;
  for (let n = 0; n < N; n++) {
    bd += b[n] * delta[n];
    sq += delta[n] * delta[n];
  }
  const dc = c - bd;
  let best = -1;
  let bestDist = Infinity;
  let bestSq = Infinity;
  for (let n = 0; n < N; n++) {
    if (!(Math.abs(b[n]) > 0)) continue;
    const dx = x0[n] - x[n];
    const nd = delta[n] + dc / b[n];
    const nsq = sq - delta[n] * delta[n] + nd * nd;
    if (x[n] + nd > box.hi || x[n] + nd < box.lo || nsq > r * r) continue;
    const dist = moved - (Math.abs(delta[n] - dx) > 1e-10 ? 1 : 0) + (Math.abs(nd - dx) > 1e-10 ? 1 : 0);
    if (dist < bestDist || (dist === bestDist && nsq < bestSq)) [best, bestDist, bestSq] = [n, dist, nsq];
  }
  if (best < 0) return null;
  delta[best] += dc / b[best];
  return delta;
}

/** Touch-up with the reference's fallbacks: (λ, μ), eight ±1e−5 neighbours, then no touch-up. */
export function touchedUpDelta(lam: number, mu: number, x0: Float64Array, x: Float64Array, b: Float64Array, c: number, r: number, box: Box = UNIT): Float64Array {
  const e = 1e-5;
  const tries: [number, number][] = [[lam, mu], [lam + e, mu], [lam, mu + e], [lam - e, mu], [lam, mu - e], [lam + e, mu + e], [lam - e, mu - e], [lam + e, mu - e], [lam - e, mu + e]];
  for (const [l, m] of tries) {
    const d = finalDelta(l, m, x0, x, b, c, r, box, true);
    if (d) return d;
  }
  return finalDelta(lam, mu, x0, x, b, c, r, box, false)!;
}

/** The ℓ0 sub-problem when the boundary is reachable inside box and ball: greedy fill, else the dual search. */
export function l0StepReachable(x0: Float64Array, x: Float64Array, b: Float64Array, c: number, r: number, box: Box = UNIT): Float64Array {
  const g = greedyFill(x0, x, b, c, box);
  if (g.norm <= r) return g.delta;
  const scratch = new Float64Array(x0.length);
  const negDual = ([lam, mu]: [number, number]) => (mu < 0 ? Infinity : -dualValue(lam, mu, x0, x, b, c, r, box, scratch));
  const { point } = nelderMead2(negDual, [0, 0], 1e-9, 1000);
  return touchedUpDelta(point[0], point[1], x0, x, b, c, r, box);
}

/** One BB-ℓ0 trust-region step for one sample (spec §4.7 step 7). */
export function solveL0Step(x0: Float64Array, x: Float64Array, b: Float64Array, c: number, r: number, box: Box = UNIT): Float64Array {
  const { cmax, norm } = maxReachable(x, b, c, box);
  if (Math.abs(cmax) < Math.abs(c)) return boundaryStep(x, b, c, r, box);
  if (norm < r || minNormToBoundary(x, b, c, box) <= r) return l0StepReachable(x0, x, b, c, r, box);
  return boundaryStep(x, b, c, r, box);
}
