/**
 * The BB-ℓ0 per-sample trust-region solver (agent/attacks/bb-solver.ts) alone, on small problems
 * whose answers are known: by hand (box limits, unreachable boundary, minimal norm) or by brute
 * force over every support (2–5 dimensions).
 */
import { describe, expect, it } from 'vitest';
import {
  boundaryStep,
  dualValue,
  greedyFill,
  maxReachable,
  minNormToBoundary,
  nelderMead2,
  solveL0Step,
  touchedUpDelta,
} from '../agent/attacks/bb-solver.ts';
import { mulberry32 } from '../agent/attacks/rng.ts';

const f64 = (a: number[]) => Float64Array.from(a);
const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i], 0);
const norm = (a: Float64Array) => Math.sqrt(dot(a, a));
/** ℓ0 of x + δ − x0, with the reference's 1e−10 tolerance */
const l0 = (x0: Float64Array, x: Float64Array, d: Float64Array) => d.reduce((s, v, i) => s + (Math.abs(x[i] + v - x0[i]) > 1e-10 ? 1 : 0), 0);

/**
 * Brute force, independent of the solver: the smallest support S (coordinates allowed to differ
 * from x0) for which b·δ = c has a solution inside box and ball. For fixed S the minimum-norm free
 * part is clip(τ·b_S) (KKT), found by scanning τ on a fine grid then bisecting.
 */
function bruteForceMinL0(x0: Float64Array, x: Float64Array, b: Float64Array, c: number, r: number): number {
  const n = x0.length;
  let best = Infinity;
  for (let mask = 0; mask < 1 << n; mask++) {
    const S = Array.from({ length: n }, (_, i) => i).filter((i) => mask & (1 << i));
    if (S.length >= best) continue;
    let fixedDot = 0;
    let fixedSq = 0;
    for (let i = 0; i < n; i++) if (!S.includes(i)) [fixedDot, fixedSq] = [fixedDot + b[i] * (x0[i] - x[i]), fixedSq + (x0[i] - x[i]) ** 2];
    const need = c - fixedDot;
    const at = (tau: number) => {
      let g = 0;
      let sq = 0;
      for (const i of S) {
        const z = Math.min(1 - x[i], Math.max(-x[i], tau * b[i]));
        g += b[i] * z;
        sq += z * z;
      }
      return { g, sq };
    };
    if (Math.abs(need) < 1e-12) {
      if (fixedSq <= r * r + 1e-12) best = S.length;
      continue;
    }
    const s = Math.sign(need);
    let hi = 1;
    while (s * at(s * hi).g < Math.abs(need) && hi < 1e12) hi *= 2;
    if (s * at(s * hi).g < Math.abs(need) - 1e-12) continue; // out of reach in the box
    let lo = 0;
    for (let k = 0; k < 200; k++) {
      const m = (lo + hi) / 2;
      if (s * at(s * m).g >= Math.abs(need)) hi = m;
      else lo = m;
    }
    if (fixedSq + at(s * hi).sq <= r * r * (1 + 1e-9)) best = S.length;
  }
  return best;
}

function expectFeasible(x: Float64Array, b: Float64Array, c: number, r: number, d: Float64Array) {
  expect(Math.abs(dot(b, d) - c)).toBeLessThan(1e-9);
  expect(norm(d)).toBeLessThanOrEqual(r * (1 + 1e-9));
  d.forEach((v, i) => {
    expect(x[i] + v).toBeGreaterThanOrEqual(-1e-12);
    expect(x[i] + v).toBeLessThanOrEqual(1 + 1e-12);
  });
}

describe('bb-solver: reachability and the boundary step', () => {
  it('maxReachable: the box corner in the direction of sign(c), and its norm', () => {
    const x = f64([0.2, 0.5, 0.9]);
    const b = f64([1, -2, 0.5]);
    const up = maxReachable(x, b, 1);
    expect(up.cmax).toBeCloseTo(0.8 + 1 + 0.05, 12); // 0.2→1, 0.5→0, 0.9→1
    expect(up.norm).toBeCloseTo(Math.sqrt(0.64 + 0.25 + 0.01), 12);
    const down = maxReachable(x, b, -1);
    expect(down.cmax).toBeCloseTo(-0.2 - 1 - 0.45, 12);
  });

  it('minNormToBoundary: a box-limited coordinate shifts the load to the others', () => {
    // unconstrained δ = [0.2, 0.2]; coordinate 0 can move 0.1 only → [0.1, 0.3]
    expect(minNormToBoundary(f64([0.9, 0.5]), f64([1, 1]), 0.4)).toBeCloseTo(Math.sqrt(0.1), 10);
    expect(minNormToBoundary(f64([0.5, 0.5]), f64([1, 1]), -0.4)).toBeCloseTo(Math.sqrt(0.08), 10);
    expect(minNormToBoundary(f64([0.5, 0.5]), f64([1, 1]), 2)).toBe(Infinity);
  });

  it('boundaryStep: whole corner when it fits, else ‖δ‖ = r along clip(sign(c)·b)', () => {
    expect(Array.from(boundaryStep(f64([0.5, 0.5]), f64([1, -1]), 2, 10))).toEqual([0.5, -0.5]);
    const small = boundaryStep(f64([0.5, 0.5]), f64([1, -1]), 2, 0.1);
    expect(small[0]).toBeCloseTo(0.1 / Math.SQRT2, 10);
    expect(small[1]).toBeCloseTo(-0.1 / Math.SQRT2, 10);
    // c < 0 goes the other way
    const neg = boundaryStep(f64([0.5, 0.5]), f64([1, -1]), -2, 0.1);
    expect(neg[0]).toBeCloseTo(-0.1 / Math.SQRT2, 10);
    // coordinate 0 is stopped by the box at 0.05, the rest of the radius goes to coordinate 1
    const boxed = boundaryStep(f64([0.95, 0.5]), f64([1, 1]), 5, 0.5);
    expect(boxed[0]).toBeCloseTo(0.05, 12);
    expect(boxed[1]).toBeCloseTo(Math.sqrt(0.25 - 0.0025), 9);
    // a zero normal cannot move anything
    expect(Array.from(boundaryStep(f64([0.5, 0.5]), f64([0, 0]), 1, 1))).toEqual([0, 0]);
  });

  it('solveL0Step: unreachable in the box, and out of the trust region, both take the boundary step', () => {
    const x = f64([0.5, 0.5]);
    expect(Array.from(solveL0Step(x, x, f64([1, -1]), 2, 10))).toEqual([0.5, -0.5]);
    const d = solveL0Step(x, x, f64([1, 1]), 0.6, 0.3); // needs ‖δ‖ ≥ 0.6/√2 > 0.3
    expect(d[0]).toBeCloseTo(0.3 / Math.SQRT2, 10);
    expect(d[1]).toBeCloseTo(0.3 / Math.SQRT2, 10);
  });
});

describe('bb-solver: the ℓ0 sub-problem', () => {
  it('greedyFill: largest contributions first, the last one partially, starting from x0', () => {
    const x0 = f64([0.5, 0.1, 0.5, 0.9]);
    const x = f64([0.6, 0.1, 0.5, 0.9]); // x differs from x0 on coordinate 0
    const b = f64([1, 1, -1, 0.5]);
    // from x0: b·(x0−x) = −0.1, need c − (−0.1) = 0.5; potentials: 0.5, 0.9, 0.5, 0.05
    const g = greedyFill(x0, x, b, 0.4);
    expect(Array.from(g.delta).map((v) => +v.toFixed(12))).toEqual([-0.1, 0.5, 0, 0]);
    expect(dot(b, g.delta)).toBeCloseTo(0.4, 12);
  });

  it('solveL0Step uses the greedy fill when it fits in the trust region (exact optimum)', () => {
    const x0 = f64([0.5, 0.1, 0.5, 0.9]);
    const x = f64([0.6, 0.1, 0.5, 0.9]);
    const b = f64([1, 1, -1, 0.5]);
    const d = solveL0Step(x0, x, b, 0.4, 1);
    expectFeasible(x, b, 0.4, 1, d);
    expect(l0(x0, x, d)).toBe(1);
    expect(bruteForceMinL0(x0, x, b, 0.4, 1)).toBe(1);
  });

  it('dual search: the trust region forces three coordinates where the greedy fill uses two but is too long', () => {
    const x = f64([0.5, 0.5, 0.5, 0.5]);
    const b = f64([1, 0.95, 0.9, 0.85]);
    // greedy [0.5, 0.105] is too long; two coordinates need ≥ 0.6/‖(1, .95)‖ = 0.435 > 0.4; three fit
    expect(greedyFill(x, x, b, 0.6).norm).toBeGreaterThan(0.4);
    expect(bruteForceMinL0(x, x, b, 0.6, 0.4)).toBe(3);
    const d = solveL0Step(x, x, b, 0.6, 0.4);
    expectFeasible(x, b, 0.6, 0.4, d);
    expect(l0(x, x, d)).toBe(3);
    // with r = 0.45 two coordinates suffice, and the search finds them
    const d2 = solveL0Step(x, x, b, 0.6, 0.45);
    expectFeasible(x, b, 0.6, 0.45, d2);
    expect(l0(x, x, d2)).toBe(2);
    expect(bruteForceMinL0(x, x, b, 0.6, 0.45)).toBe(2);
  });

  it('dual value: g(0, 0) = 0 and weak duality (g ≤ the ℓ0 of any feasible point)', () => {
    const x = f64([0.5, 0.5, 0.5, 0.5]);
    const b = f64([1, 0.95, 0.9, 0.85]);
    expect(dualValue(0, 0, x, x, b, 0.6, 0.4)).toBe(0);
    const rand = mulberry32(5);
    for (let k = 0; k < 200; k++) {
      const lam = (rand() - 0.5) * 40;
      const mu = rand() * 40;
      expect(dualValue(lam, mu, x, x, b, 0.6, 0.4)).toBeLessThanOrEqual(3 + 1e-9);
    }
  });

  it('touch-up: one coordinate fixes b·δ = c inside box and ball', () => {
    const x0 = f64([0.5, 0.5, 0.5]);
    const x = f64([0.5, 0.5, 0.5]);
    const b = f64([1, 2, 3]);
    // λ = μ = 0: the inner minimiser keeps everything; touch-up changes the one coordinate with the
    // smallest resulting norm (largest |b|): δ = [0, 0, 0.1]
    const d = touchedUpDelta(0, 0, x0, x, b, 0.3, 1);
    expect(Array.from(d).map((v) => +v.toFixed(12))).toEqual([0, 0, 0.1]);
  });

  it('nelderMead2 minimises a smooth quadratic', () => {
    const r = nelderMead2(([a, c]) => (a - 1) ** 2 + 2 * (c + 0.5) ** 2, [0, 0], 1e-14, 1000);
    expect(r.point[0]).toBeCloseTo(1, 5);
    expect(r.point[1]).toBeCloseTo(-0.5, 5);
  });

  it('random 2–5-dimensional problems: always feasible when the boundary is within reach, never sparser than brute force, exact when the greedy fits', () => {
    const rand = mulberry32(11);
    let exact = 0;
    let checked = 0;
    for (let k = 0; k < 300; k++) {
      const n = 2 + Math.floor(rand() * 4);
      const x0 = f64(Array.from({ length: n }, () => rand()));
      const x = f64(Array.from(x0, (v) => (rand() < 0.5 ? v : rand())));
      const b = f64(Array.from({ length: n }, () => (rand() - 0.5) * 4));
      const c = (rand() - 0.5) * 2;
      const r = 0.05 + rand() * 1.2;
      const d = solveL0Step(x0, x, b, c, r);
      d.forEach((v, i) => expect(x[i] + v).toBeGreaterThanOrEqual(-1e-12));
      d.forEach((v, i) => expect(x[i] + v).toBeLessThanOrEqual(1 + 1e-12));
      const opt = bruteForceMinL0(x0, x, b, c, r);
      if (opt === Infinity) continue; // boundary out of reach: the boundary step (tested above)
      checked++;
      // the dual search ends in a touch-up that may fail (then the reference's no-touch-up fallback)
      if (Math.abs(dot(b, d) - c) < 1e-9 && norm(d) <= r * (1 + 1e-9)) {
        expect(l0(x0, x, d)).toBeGreaterThanOrEqual(opt);
        if (greedyFill(x0, x, b, c).norm <= r) expect(l0(x0, x, d)).toBe(opt);
        if (l0(x0, x, d) === opt) exact++;
      }
    }
    expect(checked).toBeGreaterThan(100);
    expect(exact / checked).toBeGreaterThan(0.8);
  });
});
