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

type Conv2DAttrs = {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dilations: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

let stock: tf.GradConfig | undefined;
let enabled = false;

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

export function conv2dInputGrad(dy: tf.Tensor4D, filter: tf.Tensor4D, xShape: number[], attrs: Conv2DAttrs): tf.Tensor4D {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filter.shape, attrs.strides, 1, attrs.pad as never, attrs.dimRoundingMode);
  const [kh, kw] = [info.filterHeight, info.filterWidth];
  const { top, left } = info.padInfo;
  const [H, W] = [info.inHeight, info.inWidth];
  let p = padOrCrop(dy, 1, kh - 1 - top, H + kh - 1 - info.outHeight - (kh - 1 - top));
  p = padOrCrop(p, 2, kw - 1 - left, W + kw - 1 - info.outWidth - (kw - 1 - left));
  const flipped = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
  return tf.conv2d(p, flipped, 1, 'valid');
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
        const sub = tf.stridedSlice(filter, [rh, rw, 0, 0], [kh, kw, filter.shape[2], filter.shape[3]], [sh, sw, 1, 1]) as tf.Tensor4D;
        const flipped = tf.transpose(tf.reverse(sub, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
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
  if (!enabled || tf.getBackend() !== 'wasm' || a.dataFormat === 'NCHW' || dil[0] !== 1 || dil[1] !== 1) {
    return fallback();
  }
  const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
  const d = dy as tf.Tensor4D;
  const [sh, sw] = pair(a.strides);
  return {
    x: () => (sh === 1 && sw === 1 ? conv2dInputGrad(d, filter, x.shape, a) : conv2dInputGradStrided(d, filter, x.shape, a)),
    filter: () => conv2dFilterGrad(x, d, filter.shape, a),
  };
}

/**
 * tfjs-backend-wasm has no Conv2DBackpropFilter kernel, which fused convolutions with a linear
 * activation (conv → BatchNorm, as in ResNets) call in their gradient even when only the input
 * gradient is wanted. This kernel computes it with the forward-kernel formulation above: the
 * inputs are wrapped as tensors, the ops run nested (the tape is off inside a kernel), and the
 * result's buffer is handed to the engine.
 */
function conv2dBackpropFilterKernel(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: tf.KernelBackend }): tf.TensorInfo {
  const engine = tf.engine();
  const backend = args.backend;
  const a = args.attrs as unknown as Conv2DAttrs & { filterShape: number[] };
  if (a.dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter on wasm: NCHW is not supported');
  // tfjs counts references per buffer in the backend: wrapping a kernel input as a tensor takes
  // one (released again when the wrapper is disposed), and the result keeps one for the engine,
  // which tracks the returned buffer as the kernel's output
  backend.incRef(args.inputs.x!.dataId);
  backend.incRef(args.inputs.dy!.dataId);
  const x = engine.makeTensorFromTensorInfo(args.inputs.x!, backend) as tf.Tensor4D;
  const dy = engine.makeTensorFromTensorInfo(args.inputs.dy!, backend) as tf.Tensor4D;
  const out = tf.tidy(() => conv2dFilterGrad(x, dy, a.filterShape, a));
  backend.incRef(out.dataId);
  const info = { dataId: out.dataId, shape: out.shape, dtype: out.dtype };
  tf.dispose([x, dy, out]);
  return info;
}

/**
 * Zero-copy Identity on wasm. In gradient mode tfjs saves every kernel input by cloning it
 * (Identity); the stock wasm Identity copies the buffer under a new id, which also defeats the
 * XNNPACK packed-weight cache (keyed by buffer id), so every forward inside tf.grad re-packs the
 * weights. Sharing the buffer (one more reference), as the cpu backend does, avoids both. Kernels
 * never write into their inputs, so sharing is safe. String tensors keep the stock path.
 */
let stockIdentity: tf.KernelFunc | null = null;
function identityKernel(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const x = args.inputs.x!;
  if (x.dtype === 'string' || !enabled) return stockIdentity!(args as never) as tf.TensorInfo;
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Register the forward-kernel gradients for Conv2D and the wasm kernel overrides (idempotent). */
export function installWasmGradients(): void {
  enabled = true;
  if (stock) return;
  const id = tf.getKernel('Identity', 'wasm');
  if (id && !stockIdentity) {
    stockIdentity = id.kernelFunc;
    tf.unregisterKernel('Identity', 'wasm');
    tf.registerKernel({ kernelName: 'Identity', backendName: 'wasm', kernelFunc: identityKernel as unknown as tf.KernelFunc });
  }
  if (!tf.getKernel('Conv2DBackpropFilter', 'wasm')) {
    tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2dBackpropFilterKernel as unknown as tf.KernelFunc });
  }
  stock = tf.getGradient('Conv2D');
  if (!stock) throw new Error('tfjs has no registered Conv2D gradient to wrap');
  const prevWarn = console.warn;
  console.warn = () => {}; // tfjs warns "Overriding the gradient for 'Conv2D'": intended here
  try {
    tf.registerGradient({ kernelName: 'Conv2D', inputsToSave: ['x', 'filter'], gradFunc });
  } finally {
    console.warn = prevWarn;
  }
}

/** Switch the override off (stock gradients) without unregistering; for side-by-side checks. */
export function setWasmGradientsEnabled(on: boolean): void {
  enabled = on;
}
