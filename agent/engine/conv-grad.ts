/**
 * Conv2D gradients through the forward convolution kernel (wasm backend).
 *
 * tfjs-backend-wasm has no Conv2DBackpropFilter kernel at all, and its Conv2DBackpropInput is a
 * naive scalar loop (~80 % of an attack step on the MNIST SmallCNN), while its forward Conv2D is
 * XNNPACK. Both gradients of a convolution are themselves convolutions:
 *
 * - input gradient (stride 1): correlate dy, padded by (k-1-pad) on each side, with the filter
 *   flipped in space and with in/out channels swapped. Stride s > 1: the input positions fall into
 *   s_h×s_w residue classes; each class receives a stride-1 correlation of dy with the sub-filter
 *   W[r_h::s_h, r_w::s_w] (flipped, channels swapped), and the class results are interleaved back
 *   (no zero-dilated dy, so no multiplications by inserted zeros).
 * - filter gradient (any stride): treat input channels as the batch and the batch as channels:
 *   conv(transpose(x_pad,[3,1,2,0]), transpose(dy,[1,2,0,3]), dilation = stride) gives
 *   [Cin, kh, kw, Cout], transposed back to [kh, kw, Cin, Cout].
 *
 * Only the summation order differs from the stock kernels (tests compare against the cpu
 * backend's reference kernels on random shapes). Installed by selectBackend('wasm'); on any other
 * backend, or for NCHW / dilated convolutions, the stock gradient runs unchanged.
 */
import * as tf from '@tensorflow/tfjs';
import { derivedFromWeight } from './derived-cache.ts';
import { overridesEnabled, registerGradientOverride, registerKernelOverride, runOpsInKernel } from './kernel-override.ts';

type Conv2DAttrs = {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dilations: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

let stock: tf.GradConfig | undefined;

/** Pad (positive) or crop (negative) `before`/`after` along spatial axis 1 or 2 of an NHWC tensor. */
function padOrCrop(t: tf.Tensor4D, axis: 1 | 2, before: number, after: number): tf.Tensor4D {
  let out = t;
  const cropB = Math.max(0, -before);
  const cropA = Math.max(0, -after);
  if (cropB > 0 || cropA > 0) {
    const begin = [0, 0, 0, 0];
    const size = [...out.shape] as number[];
    begin[axis] = cropB;
    size[axis] = size[axis] - cropB - cropA;
    out = tf.slice(out, begin, size);
  }
  const padB = Math.max(0, before);
  const padA = Math.max(0, after);
  if (padB > 0 || padA > 0) {
    const p: Array<[number, number]> = [[0, 0], [0, 0], [0, 0], [0, 0]];
    p[axis] = [padB, padA];
    out = tf.pad(out, p);
  }
  return out;
}

function pair(v: [number, number] | number): [number, number] {
  return typeof v === 'number' ? [v, v] : v;
}

/** Spatially flipped, in/out channels swapped: the filter of the input-gradient correlation. */
function flipFilter(f: tf.Tensor4D): tf.Tensor4D {
  return tf.transpose(tf.reverse(f, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
}

export function conv2dInputGrad(dy: tf.Tensor4D, filter: tf.Tensor4D, xShape: number[], attrs: Conv2DAttrs): tf.Tensor4D {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filter.shape, attrs.strides, 1, attrs.pad as never, attrs.dimRoundingMode);
  const [kh, kw] = [info.filterHeight, info.filterWidth];
  const { top, left } = info.padInfo;
  const [H, W] = [info.inHeight, info.inWidth];
  const [pt, pb] = [kh - 1 - top, H + kh - 1 - info.outHeight - (kh - 1 - top)];
  const [pl, pr] = [kw - 1 - left, W + kw - 1 - info.outWidth - (kw - 1 - left)];
  // crop where the forward padding exceeded the filter (rare); the rest of the padding is the
  // convolution's own (implicit in XNNPACK: no padded copy of dy)
  let p = padOrCrop(dy, 1, Math.min(0, pt), Math.min(0, pb));
  p = padOrCrop(p, 2, Math.min(0, pl), Math.min(0, pr));
  const flipped = derivedFromWeight(filter, 'flip', () => flipFilter(filter));
  const pad: tf.backend_util.ExplicitPadding = [[0, 0], [Math.max(0, pt), Math.max(0, pb)], [Math.max(0, pl), Math.max(0, pr)], [0, 0]];
  return tf.conv2d(p, flipped, 1, pad);
}

const interleaveCache = new Map<string, Int32Array>();

/** Input gradient for any stride, by residue classes (see the header). */
export function conv2dInputGradStrided(dy: tf.Tensor4D, filter: tf.Tensor4D, xShape: number[], attrs: Conv2DAttrs): tf.Tensor4D {
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(
      xShape as [number, number, number, number], filter.shape, attrs.strides, 1, attrs.pad as never, attrs.dimRoundingMode);
    const [sh, sw] = [info.strideHeight, info.strideWidth];
    const [kh, kw] = [info.filterHeight, info.filterWidth];
    const { top, left } = info.padInfo;
    const [N, H, W, Cin] = xShape;
    const parts: tf.Tensor2D[] = [];
    const targets: number[] = [];
    for (let rh = 0; rh < sh; rh++) {
      for (let rw = 0; rw < sw; rw++) {
        const i0 = (((rh - top) % sh) + sh) % sh;
        const j0 = (((rw - left) % sw) + sw) % sw;
        const nH = i0 < H ? Math.ceil((H - i0) / sh) : 0;
        const nW = j0 < W ? Math.ceil((W - j0) / sw) : 0;
        if (nH === 0 || nW === 0) continue;
        for (let a = 0; a < nH; a++) for (let b = 0; b < nW; b++) targets.push((i0 + a * sh) * W + (j0 + b * sw));
        const Lh = rh < kh ? Math.ceil((kh - rh) / sh) : 0;
        const Lw = rw < kw ? Math.ceil((kw - rw) / sw) : 0;
        if (Lh === 0 || Lw === 0) {
          parts.push(tf.zeros([nH * nW, N * Cin]));
          continue;
        }
        const flipped = derivedFromWeight(filter, `sub${rh},${rw}/${sh},${sw}`, () =>
          flipFilter(tf.stridedSlice(filter, [rh, rw, 0, 0], [kh, kw, filter.shape[2], filter.shape[3]], [sh, sw, 1, 1]) as tf.Tensor4D),
        );
        const q0 = (i0 + top - rh) / sh;
        const p0 = (j0 + left - rw) / sw;
        let p = padOrCrop(dy, 1, Lh - 1 - q0, q0 + nH - 1 - (info.outHeight - 1));
        p = padOrCrop(p, 2, Lw - 1 - p0, p0 + nW - 1 - (info.outWidth - 1));
        const g = tf.conv2d(p, flipped, 1, 'valid'); // [N, nH, nW, Cin]
        parts.push(tf.transpose(g, [1, 2, 0, 3]).reshape([nH * nW, N * Cin]) as tf.Tensor2D);
      }
    }
    const key = `${H}x${W}/${sh}x${sw}/${top},${left}`;
    let idx = interleaveCache.get(key);
    if (!idx) interleaveCache.set(key, (idx = Int32Array.from(targets)));
    const placed = tf.scatterND(tf.tensor2d(idx, [idx.length, 1], 'int32'), tf.concat(parts, 0), [H * W, N * Cin]);
    return tf.transpose(placed.reshape([H, W, N, Cin]), [2, 0, 1, 3]) as tf.Tensor4D;
  });
}

export function conv2dFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: number[], attrs: Conv2DAttrs): tf.Tensor4D {
  const info = tf.backend_util.computeConv2DInfo(
    x.shape, filterShape as [number, number, number, number], attrs.strides, 1, attrs.pad as never, attrs.dimRoundingMode);
  const [sh, sw] = [info.strideHeight, info.strideWidth];
  const [kh, kw] = [info.filterHeight, info.filterWidth];
  const { top, left } = info.padInfo;
  const rows = (info.outHeight - 1) * sh + kh;
  const cols = (info.outWidth - 1) * sw + kw;
  let xp = padOrCrop(x, 1, top, rows - info.inHeight - top);
  xp = padOrCrop(xp, 2, left, cols - info.inWidth - left);
  const xs = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D; // [Cin, rows, cols, N]
  const f = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [oh, ow, N, Cout]
  const g = tf.conv2d(xs, f, 1, 'valid', 'NHWC', [sh, sw]); // [Cin, kh, kw, Cout]
  return tf.transpose(g, [1, 2, 0, 3]);
}

function gradFunc(dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) {
  const a = attrs as unknown as Conv2DAttrs;
  const fallback = () => stock!.gradFunc(dy, saved, attrs);
  const dil = pair(a.dilations ?? 1);
  if (!overridesEnabled() || a.dataFormat === 'NCHW' || dil[0] !== 1 || dil[1] !== 1) {
    return fallback();
  }
  const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
  const d = dy as tf.Tensor4D;
  return {
    x: () => inputGrad(d, filter, x.shape, a),
    filter: () => conv2dFilterGrad(x, d, filter.shape, a),
  };
}

function inputGrad(dy: tf.Tensor4D, filter: tf.Tensor4D, xShape: number[], a: Conv2DAttrs): tf.Tensor4D {
  const [sh, sw] = pair(a.strides);
  return sh === 1 && sw === 1 ? conv2dInputGrad(dy, filter, xShape, a) : conv2dInputGradStrided(dy, filter, xShape, a);
}

/**
 * Kernel-level overrides on wasm, for every caller that reaches the backprop kernels directly
 * (tfjs's fused convolution gradient, conv2dTranspose): Conv2DBackpropInput (the stock one is the
 * naive loop) and Conv2DBackpropFilter (missing from tfjs-backend-wasm; conv layers with linear
 * activation, e.g. conv → BatchNorm, call it in their gradient).
 */
function conv2dBackpropFilterKernel(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: tf.KernelBackend }): tf.TensorInfo {
  const a = args.attrs as unknown as Conv2DAttrs & { filterShape: number[] };
  if (a.dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter on wasm: NCHW is not supported');
  return runOpsInKernel(args, ['x', 'dy'], ([x, dy]) => conv2dFilterGrad(x as tf.Tensor4D, dy as tf.Tensor4D, a.filterShape, a));
}

function conv2dBackpropInputKernel(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: tf.KernelBackend }): tf.TensorInfo | null {
  const a = args.attrs as unknown as Conv2DAttrs & { inputShape: number[] };
  const dil = pair(a.dilations ?? 1);
  if (a.dataFormat === 'NCHW' || dil[0] !== 1 || dil[1] !== 1) return null; // stock kernel
  return runOpsInKernel(args, ['dy', 'filter'], ([dy, filter]) => inputGrad(dy as tf.Tensor4D, filter as tf.Tensor4D, a.inputShape, a));
}

/** Register the Conv2D gradient and the wasm backprop kernels (idempotent; see kernel-override.ts). */
export function installConvOverrides(): void {
  if (stock) return;
  registerKernelOverride('Conv2DBackpropFilter', conv2dBackpropFilterKernel);
  registerKernelOverride('Conv2DBackpropInput', conv2dBackpropInputKernel);
  stock = tf.getGradient('Conv2D');
  if (!stock) throw new Error('tfjs has no registered Conv2D gradient to wrap');
  registerGradientOverride({ kernelName: 'Conv2D', inputsToSave: ['x', 'filter'], gradFunc });
}
