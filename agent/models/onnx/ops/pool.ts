/**
 * MaxPool, AveragePool and the global pools in NHWC.
 *
 * ceil_mode = 1 becomes extra end padding (PyTorch's rule: the last window must start inside the
 * input or its begin padding). Max pooling pads with −∞ (tfjs's explicit padding: padded positions
 * never win). Average pooling with padding is computed as avgPool(zero-padded x) divided by
 * avgPool(mask), the mask marking the positions the divisor counts: the input only
 * (count_include_pad = 0) or the input and its explicit padding but not the ceil-mode extension
 * (count_include_pad = 1, as PyTorch); the divisor map is made once per input size.
 */
import * as tf from '@tensorflow/tfjs';
import { logicalShape, nhwcHeld, toNhwc } from '../layout.ts';
import { explicitPadding, kernelShape, windowGeometry } from './geometry.ts';
import type { OpArgs, OpImpl } from './op.ts';

function poolInput(a: OpArgs): tf.Tensor4D {
  a.count(1);
  const h = a.held(0);
  const s = logicalShape(h);
  if (s.length !== 4) throw a.unsupported(`input of rank ${s.length}: only 2-D pooling ([N, C, H, W]) is supported`);
  if (h.t.dtype !== 'float32') throw a.unsupported(`input dtype ${h.t.dtype}`);
  return toNhwc(h);
}

/** End padding added by ceil_mode so that the last (partial) window is kept. */
function ceilExtra(size: number, k: number, s: number, pb: number, pe: number): number {
  let out = Math.ceil((size + pb + pe - k) / s) + 1;
  if ((out - 1) * s >= size + pb) out--;
  return Math.max(0, (out - 1) * s + k - (size + pb + pe));
}

interface PoolGeometry {
  kernel: [number, number];
  strides: [number, number];
  /** pads including the ceil-mode extension: top, left, bottom, right */
  pads: [number, number, number, number];
  /** the explicit pads alone */
  given: [number, number, number, number];
}

function poolGeometry(a: OpArgs, x: tf.Tensor4D, dilationsAttr: boolean): PoolGeometry {
  const [, H, W] = x.shape;
  const kernel = kernelShape(a);
  const g = windowGeometry(a, [H, W], kernel, dilationsAttr);
  if (g.dilations[0] !== 1 || g.dilations[1] !== 1) throw a.unsupported(`dilations [${g.dilations.join(', ')}] (only 1 is supported)`, 'dilations');
  const ceil = a.attrs.int('ceil_mode', 0);
  a.attrs.expect('ceil_mode', ceil, [0, 1]);
  const pads: [number, number, number, number] = [...g.pads];
  if (ceil === 1) {
    pads[2] += ceilExtra(H, kernel[0], g.strides[0], g.pads[0], g.pads[2]);
    pads[3] += ceilExtra(W, kernel[1], g.strides[1], g.pads[1], g.pads[3]);
  }
  return { kernel, strides: g.strides, pads, given: g.pads };
}

/**
 * Max pooling with overlapping windows (stride < kernel, e.g. the 3×3/2 stem pool of ImageNet
 * ResNets) and an input gradient built from tfjs ops. tfjs-backend-wasm's stock MaxPoolGrad starts
 * each window's search at FLT_MIN, so a window whose maximum is ≤ 0 sends its gradient to the wrong
 * element (the engine's one-pass override covers non-overlapping windows only). Here, for each of
 * the kh·kw window offsets, the positions equal to the window's maximum and not claimed by an
 * earlier offset (PyTorch: the first maximum in row-major order) receive dy, placed back by
 * zero-dilation and padding.
 */
function maxPoolOverlapping(x: tf.Tensor4D, g: PoolGeometry): tf.Tensor4D {
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.strides;
  const [t, l, b, r] = g.pads;
  const [, H, W] = x.shape;
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const xx = args[0] as tf.Tensor4D;
    const save = args[1] as tf.GradSaveFunc;
    const y = tf.maxPool(xx, g.kernel, g.strides, explicitPadding(g.pads));
    save([xx, y]);
    const gradFunc = (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
      const [xs, ys] = saved as [tf.Tensor4D, tf.Tensor4D];
      const [N, OH, OW, C] = ys.shape;
      // one extra stride of −∞ at the end, so that every offset's window grid is a whole reshape
      const xp = tf.pad(xs, [[0, 0], [t, b + sh], [l, r + sw], [0, 0]], -Infinity);
      const [Hp, Wp] = [xp.shape[1], xp.shape[2]];
      let taken: tf.Tensor | null = null;
      let acc: tf.Tensor = tf.zeros(xp.shape);
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const grid = tf.slice(xp, [0, i, j, 0], [N, OH * sh, OW * sw, C]);
          const at = tf.reshape(tf.slice(tf.reshape(grid, [N * OH, sh, OW, sw, C]), [0, 0, 0, 0, 0], [N * OH, 1, OW, 1, C]), [N, OH, OW, C]);
          let m: tf.Tensor = tf.equal(at, ys);
          if (taken) m = tf.logicalAnd(m, tf.logicalNot(taken));
          taken = taken ? tf.logicalOr(taken, m) : m;
          const part = tf.mul(dy, tf.cast(m, 'float32'));
          const spread = tf.reshape(tf.pad(tf.reshape(part, [N * OH, 1, OW, 1, C]), [[0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]), [N, OH * sh, OW * sw, C]);
          acc = tf.add(acc, tf.pad(spread, [[0, 0], [i, Hp - i - OH * sh], [j, Wp - j - OW * sw], [0, 0]]));
        }
      }
      return tf.slice(acc, [0, t, l, 0], [N, H, W, C]);
    };
    return { value: y, gradFunc };
  });
  return f(x) as tf.Tensor4D;
}

const MaxPool: OpImpl = (a) => {
  const x = poolInput(a);
  if (a.node.outputs.length > 1 && a.node.outputs[1] !== '') throw a.unsupported('the Indices output is not supported');
  const order = a.attrs.int('storage_order', 0);
  a.attrs.expect('storage_order', order, [0]);
  const g = poolGeometry(a, x, a.opset >= 10);
  const overlapping = g.strides[0] < g.kernel[0] || g.strides[1] < g.kernel[1];
  if (overlapping && tf.engine().state.gradientDepth > 0) return [nhwcHeld(maxPoolOverlapping(x, g))];
  return [nhwcHeld(tf.maxPool(x, g.kernel, g.strides, explicitPadding(g.pads)))];
};

const AveragePool: OpImpl = (a) => {
  const x = poolInput(a);
  const includePad = a.attrs.int('count_include_pad', 0);
  a.attrs.expect('count_include_pad', includePad, [0, 1]);
  const g = poolGeometry(a, x, a.opset >= 19);
  if (g.pads.every((p) => p === 0)) return [nhwcHeld(tf.avgPool(x, g.kernel, g.strides, 'valid'))];
  const [, H, W] = x.shape;
  const [t, l, b, r] = g.pads;
  const padding: Array<[number, number]> = [[0, 0], [t, b], [l, r], [0, 0]];
  const sum = tf.avgPool(tf.pad(x, padding) as tf.Tensor4D, g.kernel, g.strides, 'valid');
  const counted = includePad === 1 ? g.given : [0, 0, 0, 0];
  if (counted.every((p, i) => p === g.pads[i])) return [nhwcHeld(sum)]; // every window counts the full kernel
  const divisor = a.keep(`divisor:${H}x${W}`, () => {
    const [ct, cl, cb, cr] = counted;
    const mask = tf.pad(tf.ones([1, H + ct + cb, W + cl + cr, 1]), [[0, 0], [t - ct, b - cb], [l - cl, r - cr], [0, 0]]) as tf.Tensor4D;
    return tf.reciprocal(tf.avgPool(mask, g.kernel, g.strides, 'valid'));
  });
  return [nhwcHeld(tf.mul(sum, divisor))];
};

export const poolOps: Record<string, OpImpl> = {
  MaxPool,
  AveragePool,
  GlobalAveragePool: (a) => [nhwcHeld(tf.mean(poolInput(a), [1, 2], true))],
  GlobalMaxPool: (a) => [nhwcHeld(tf.max(poolInput(a), [1, 2], true))],
};
