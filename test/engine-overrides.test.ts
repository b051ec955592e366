/**
 * The wasm engine overrides (agent/engine/overrides.ts) against the stock kernels, side by side in
 * one process (setWasmOverridesEnabled switches between them):
 * - FusedBatchNorm gradient: bit-identical (same float32 products, broadcast instead of tiled);
 * - one-pass MaxPoolGrad: bit-identical on random non-overlapping pools with ties, NaN and +Inf,
 *   and the one explained difference (windows with maximum ≤ 0) checked against its definition;
 * - Conv2DBackpropInput kernel (fused-conv and conv2dTranspose callers): float32 summation order;
 * - linear convolutions prepared for input gradients: identical forwards, no filter gradient
 *   computed, and a CIFAR ResNet-18's input gradient on wasm equal to the cpu reference.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../agent/engine/backend.ts';
import { setWasmOverridesEnabled } from '../agent/engine/overrides.ts';
import { prepareForInputGradients } from '../agent/engine/linear-conv.ts';
import { derivedCount } from '../agent/engine/derived-cache.ts';
import { buildResNet18 } from '../agent/models/resnet18.ts';
import { mulberry32 } from '../agent/attacks/rng.ts';

/** Run fn with the stock kernels, then with the overrides; both results as plain arrays. */
function sideBySide(fn: () => tf.Tensor | tf.Tensor[]): [number[][], number[][]] {
  const run = (on: boolean) => {
    setWasmOverridesEnabled(on);
    const out = tf.tidy(fn);
    const list = Array.isArray(out) ? out : [out];
    const vals = list.map((t) => Array.from(t.dataSync()));
    tf.dispose(list);
    return vals;
  };
  const stock = run(false);
  const fast = run(true);
  return [stock, fast];
}

/** max |a − ref| / max |ref|: float32 summation-order differences, relative to the result's scale. */
function relDiff(a: number[], ref: number[]): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return diff / scale;
}

/** Equality that treats NaN as equal to NaN (toEqual does) and distinguishes nothing else. */
const bits = (a: number[][]) => a.map((v) => Array.from(new Uint32Array(Float32Array.from(v).buffer)));

beforeAll(async () => {
  await selectBackend('wasm');
});
afterAll(() => setWasmOverridesEnabled(true));

describe('FusedBatchNorm gradient without Tile', () => {
  it('is bit-identical to the stock gradient for x, mean, variance, scale and offset', () => {
    for (const [shape, seed] of [[[2, 5, 4, 3], 1], [[3, 7, 7, 16], 2], [[1, 1, 1, 5], 3]] as const) {
      const C = shape[3];
      const [stock, fast] = sideBySide(() => {
        const x = tf.randomNormal([...shape], 0, 2, 'float32', seed);
        const mean = tf.randomNormal([C], 0, 1, 'float32', seed + 1);
        const variance = tf.randomUniform([C], 0.1, 2, 'float32', seed + 2);
        const scale = tf.randomNormal([C], 1, 0.5, 'float32', seed + 3);
        const offset = tf.randomNormal([C], 0, 1, 'float32', seed + 4);
        const dy = tf.randomNormal([...shape], 0, 1, 'float32', seed + 5);
        const f = (a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => tf.batchNorm(a, m, v, o, s, 1e-3);
        return tf.grads(f as never)([x, mean, variance, scale, offset], dy);
      });
      expect(bits(fast)).toEqual(bits(stock));
    }
  });
});

describe('one-pass MaxPoolGrad (non-overlapping windows)', () => {
  const poolGrad = (x: tf.Tensor4D, dy: tf.Tensor4D, k: number, s: number, pad: 'valid' | 'same') =>
    tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: tf.maxPool(x, k, s, pad) }, { filterSize: k, strides: s, pad }) as tf.Tensor;

  it('is bit-identical to the stock kernel on random pools with ties, NaN and +Inf', () => {
    const r = mulberry32(11);
    const int = (a: number, b: number) => a + Math.floor(r() * (b - a + 1));
    for (let c = 0; c < 48; c++) {
      // every 6th case: the 2×2/2 fast path (odd sizes included: the last row/column is in no window)
      const fast2x2 = c % 6 === 0;
      const k = fast2x2 ? 2 : int(1, 3);
      const s = fast2x2 ? 2 : k + (r() < 0.3 ? 1 : 0);
      const pad = fast2x2 || r() < 0.5 ? 'valid' : 'same';
      const shape = [int(1, 3), int(k, 9), int(k, 9), int(1, 6)] as [number, number, number, number];
      const n = shape.reduce((a, b) => a * b);
      // positive values on a coarse grid (ties are common), some NaN and +Inf
      const xs = Float32Array.from({ length: n }, () => {
        const u = r();
        return u < 0.05 ? NaN : u < 0.08 ? Infinity : 0.25 + Math.floor(r() * 4) / 4;
      });
      const [stock, fast] = sideBySide(() => {
        const x = tf.tensor4d(xs, shape);
        const y = tf.maxPool(x, k, s, pad);
        const dy = tf.randomNormal(y.shape, 0, 1, 'float32', c + 1) as tf.Tensor4D; // seed 0 means unseeded in tfjs
        return poolGrad(x, dy, k, s, pad);
      });
      expect(bits(fast), JSON.stringify({ shape, k, s, pad })).toEqual(bits(stock));
    }
  });

  it('routes the gradient of a window with maximum ≤ 0 to its last maximum (where the stock wasm kernel drops it)', () => {
    // x [1, 2, 4, 1]: windows {-3, -1, -5, -1} and {-2, -2, -3, -4}; dy = [10, 20]
    const x = tf.tensor4d([-3, -1, -2, -2, -5, -1, -3, -4], [1, 2, 4, 1]);
    const dy = tf.tensor4d([10, 20], [1, 1, 2, 1]);
    setWasmOverridesEnabled(true);
    expect(Array.from(poolGrad(x, dy, 2, 2, 'valid').dataSync())).toEqual([0, 0, 0, 20, 0, 10, 0, 0]);
    setWasmOverridesEnabled(false);
    // the stock kernel's search starts at FLT_MIN at absolute position 0 (a tfjs bug)
    expect(Array.from(poolGrad(x, dy, 2, 2, 'valid').dataSync())).toEqual([10, 0, 0, 0, 0, 0, 0, 0]);
    setWasmOverridesEnabled(true);
    tf.dispose([x, dy]);
  });

  it('leaves overlapping windows to the stock kernel', () => {
    const [stock, fast] = sideBySide(() => {
      const x = tf.randomUniform([2, 7, 7, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
      const dy = tf.randomNormal([2, 3, 3, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
      return poolGrad(x, dy, 3, 2, 'valid');
    });
    expect(fast).toEqual(stock);
  });
});

describe('products with a transposed weight (dense-layer input gradients)', () => {
  // the stock kernel's transposed path sums in another order than XNNPACK's: not bit-identical,
  // within 1e-6 of the largest magnitude (float32 rounding); plain tensors keep the stock path
  it('match the stock kernel within 1e-6 relative for weights (cached transpose), exactly for plain tensors', () => {
    for (const [m, k, n] of [[32, 1024, 200], [7, 200, 200], [3, 200, 10]]) {
      const w = tf.variable(tf.randomNormal([k, n], 0, 1, 'float32', m + k)); // a dense kernel [in, out]: dx = dy·Wᵀ
      const cached = derivedCount();
      const [stock, fast] = sideBySide(() => {
        const a = tf.randomNormal([m, n], 0, 1, 'float32', n + 1);
        return [tf.matMul(a, w, false, true), tf.matMul(a, tf.add(w, 0), false, true)];
      });
      const d = relDiff(fast[0], stock[0]);
      console.log(`dense [${m}×${n}]·[${k}×${n}]ᵀ: max |Δ| / max |y| = ${d.toExponential(2)}`);
      expect(d).toBeLessThan(1e-6);
      expect(fast[1]).toEqual(stock[1]);
      expect(derivedCount()).toBe(cached + 1); // the weight's transpose, made once
      w.dispose();
      expect(derivedCount()).toBe(cached); // and dropped with the weight
    }
  });
});

describe('Conv2DBackpropInput kernel through the forward convolution', () => {
  it('matches the stock kernel (conv2dTranspose) within float32 summation order', () => {
    const r = mulberry32(3);
    const int = (a: number, b: number) => a + Math.floor(r() * (b - a + 1));
    for (let c = 0; c < 20; c++) {
      const k = int(1, 4);
      const s = int(1, 3);
      const pad = r() < 0.5 ? 'valid' : 'same';
      const [N, H, W, Cin, Cout] = [int(1, 2), int(k + 1, 9), int(k + 1, 9), int(1, 4), int(1, 4)];
      const outShape = tf.backend_util.computeConv2DInfo([N, H, W, Cin], [k, k, Cin, Cout], s, 1, pad);
      const [stock, fast] = sideBySide(() => {
        const dy = tf.randomNormal([N, outShape.outHeight, outShape.outWidth, Cout], 0, 1, 'float32', c + 1) as tf.Tensor4D; // seed 0 means unseeded in tfjs
        const f = tf.randomNormal([k, k, Cin, Cout], 0, 1, 'float32', c + 100) as tf.Tensor4D;
        return tf.conv2dTranspose(dy, f, [N, H, W, Cin], s, pad);
      });
      expect(relDiff(fast[0], stock[0]), JSON.stringify({ k, s, pad, N, H, W, Cin, Cout })).toBeLessThan(1e-6);
    }
  });
});

describe('Conv2D gradients on wasm against the cpu backend', () => {
  it('agree within 1e-6 on 40 random configurations (strides 1–3 and mixed, same / valid / explicit asymmetric padding, 1×1 to 5×5)', async () => {
    const r = mulberry32(21);
    const int = (a: number, b: number) => a + Math.floor(r() * (b - a + 1));
    const cases = Array.from({ length: 40 }, () => {
      const [kh, kw] = [int(1, 5), int(1, 5)];
      const sh = int(1, 3);
      const s: [number, number] = [sh, r() < 0.4 ? int(1, 3) : sh];
      const pads = ['same', 'valid', [[0, 0], [int(0, 2), int(0, 2)], [int(0, 2), int(0, 2)], [0, 0]]] as const;
      return { x: [int(1, 3), int(kh + 1, 11), int(kw + 1, 11), int(1, 4)], f: [kh, kw, 0, int(1, 5)], s, pad: pads[int(0, 2)] };
    });
    const grads = async (backend: 'cpu' | 'wasm') => {
      await selectBackend(backend);
      return cases.map((c, k) =>
        tf.tidy(() => {
          const x = tf.randomNormal(c.x, 0, 1, 'float32', k + 1);
          const f = tf.randomNormal([c.f[0], c.f[1], c.x[3], c.f[3]], 0, 1, 'float32', k + 500);
          const conv = (a: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, c.s, c.pad as 'same');
          const y = conv(x);
          if (y.size === 0) return [];
          const dy = tf.randomNormal(y.shape, 0, 1, 'float32', k + 900);
          return Array.from(tf.grad(conv)(x, dy).dataSync());
        }),
      );
    };
    const cpu = await grads('cpu');
    const wasm = await grads('wasm');
    cases.forEach((c, k) => {
      if (cpu[k].length === 0) return;
      expect(relDiff(wasm[k], cpu[k]), JSON.stringify(c)).toBeLessThan(1e-6);
    });
  });
});

describe('linear convolutions prepared for input gradients', () => {
  it('keep forwards bit-identical, compute no filter gradient, and give the cpu reference input gradient (ResNet-18 layout, width 16)', async () => {
    const xs = tf.randomUniform([1, 32, 32, 3], 0, 1, 'float32', 9).dataSync() as Float32Array;
    const lossOf = (net: tf.LayersModel) => (d: tf.Tensor) => tf.sum(tf.max(net.apply(tf.add(tf.tensor4d(xs, [1, 32, 32, 3]), d), { training: false }) as tf.Tensor, 1)) as tf.Scalar;

    await selectBackend('cpu');
    const cpuNet = buildResNet18(3, 10, 16);
    const cpuGrad = Array.from(tf.grad(lossOf(cpuNet))(tf.zeros([1, 32, 32, 3])).dataSync()); // the cpu backend is slow: width 16

    await selectBackend('wasm');
    setWasmOverridesEnabled(true);
    const net = buildResNet18(3, 10, 16);
    const before = Array.from((net.apply(tf.tensor4d(xs, [1, 32, 32, 3])) as tf.Tensor).dataSync());
    expect(prepareForInputGradients(net)).toBe(20); // stem + 16 block convs + 3 projection shortcuts, all linear (conv → BatchNorm)
    expect(prepareForInputGradients(net)).toBe(0); // idempotent
    expect(Array.from((net.apply(tf.tensor4d(xs, [1, 32, 32, 3])) as tf.Tensor).dataSync())).toEqual(before);

    const zero = tf.zeros([1, 32, 32, 3]);
    const step = () => tf.grad(lossOf(net))(zero);
    tf.dispose(step()); // warm-up: derived filters cached
    const prof = await tf.profile(() => tf.dispose(step()));
    const kernels = new Set(prof.kernels.map((k) => k.name));
    expect(kernels.has('Conv2DBackpropFilter')).toBe(false);
    expect(kernels.has('Conv2DBackpropInput')).toBe(false);
    expect(kernels.has('Tile')).toBe(false);
    expect(prof.newTensors).toBe(0);

    const g = step();
    const wasmGrad = Array.from(g.dataSync());
    g.dispose();
    expect(relDiff(wasmGrad, cpuGrad)).toBeLessThan(1e-6);
  });
});
