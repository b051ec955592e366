/**
 * Step-size schedules.
 *
 * `cosineAnnealingLrs` reproduces PyTorch's CosineAnnealingLR(T_max=N, eta_min) as σ-zero uses it:
 * PyTorch computes the rate recursively (in float64) from the previous one,
 *   η_e = (1 + cos(π e/N)) / (1 + cos(π (e−1)/N)) · (η_{e−1} − η_min) + η_min,
 * which equals the closed form up to float64 rounding; we follow the recursion so the float32 value
 * handed to the tensor ops is the same. Returns η_0 … η_N (N+1 values).
 */
export function cosineAnnealingLrs(eta0: number, etaMin: number, steps: number): number[] {
  const out = [eta0];
  for (let e = 1; e <= steps; e++) {
    const prev = out[e - 1];
    if ((e - 1 - steps) % (2 * steps) === 0) {
      // PyTorch's restart branch; unreachable for e ≤ N, kept for parity with the recursion
      out.push(prev + ((eta0 - etaMin) * (1 - Math.cos(Math.PI / steps))) / 2);
    } else {
      out.push(((1 + Math.cos((Math.PI * e) / steps)) / (1 + Math.cos((Math.PI * (e - 1)) / steps))) * (prev - etaMin) + etaMin);
    }
  }
  return out;
}

/** Closed-form cosine interpolation used by FMN-style attacks: final + (init − final)·(1 + cos(π i/N))/2. */
export function cosineInterp(init: number, final: number, i: number, steps: number): number {
  return final + ((init - final) * (1 + Math.cos((Math.PI * i) / steps))) / 2;
}
