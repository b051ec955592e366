/**
 * One-pass MaxPoolGrad on wasm for non-overlapping windows (stride ≥ window, no dilation: the
 * 2×2/2 pools of the SmallCNNs).
 *
 * The stock wasm kernel first computes the argmax of every window into a scratch array, then, for
 * every input position, visits every window that could contain it (~13 ms of an 85 ms SmallCNN
 * step at batch 32, while the forward pool takes 0.4 ms). With windows that do not overlap, each
 * input belongs to at most one window, so one pass over the windows finds each argmax and writes
 * dx directly (positions in no window, and non-maximal ones, get 0).
 *
 * Rules, as the stock wasm kernel: on ties the LAST maximal position (row-major in the window) gets
 * the gradient; NaN is never the maximum; padding positions are skipped. One deliberate
 * difference: the stock kernel starts its search at FLT_MIN (the smallest positive float) at
 * absolute position 0, so a window whose maximum is ≤ 0 routes its gradient to element 0 of the
 * tensor (or nowhere), which is a tfjs bug; here such windows give the gradient to their maximum,
 * as PyTorch and tfjs's cpu backend do. After a ReLU (max ≥ 0 windows of zeros) the downstream
 * gradient of those windows is 0 either way. A window of NaNs only gets no gradient.
 */
import * as tf from '@tensorflow/tfjs';
import { registerKernelOverride } from './kernel-override.ts';

type PoolAttrs = {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

type WasmHeapBackend = tf.KernelBackend & {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
};

/** dx of max pooling for non-overlapping windows, into `dx` (fully written). Exported for tests. */
export function maxPoolGradNonOverlapping(x: Float32Array, dy: Float32Array, dx: Float32Array, info: tf.backend_util.Conv2DInfo): void {
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const [sh, sw, kh, kw] = [info.strideHeight, info.strideWidth, info.effectiveFilterHeight, info.effectiveFilterWidth];
  const { top, left } = info.padInfo;
  dx.fill(0);
  if (kh === 2 && kw === 2 && sh === 2 && sw === 2 && top === 0 && left === 0 && OH * 2 <= H && OW * 2 <= W) {
    pool2x2Grad(x, dy, dx, N, H, W, C, OH, OW);
    return;
  }
  const bases = new Int32Array(kh * kw); // offsets of the window's pixels (channel 0)
  const best = new Float32Array(C);
  const pos = new Int32Array(C);
  for (let b = 0; b < N; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const h0 = Math.max(0, oh * sh - top);
      const h1 = Math.min(H, oh * sh - top + kh);
      for (let ow = 0; ow < OW; ow++) {
        const w0 = Math.max(0, ow * sw - left);
        const w1 = Math.min(W, ow * sw - left + kw);
        let n = 0;
        for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) bases[n++] = ((b * H + h) * W + w) * C;
        if (n === 0) continue; // a window entirely in the padding
        // channels innermost: contiguous reads. The first pixel starts the search (NaN: no
        // position yet), later pixels win ties (>=) and never win with NaN
        const b0 = bases[0];
        for (let c = 0; c < C; c++) {
          const v = x[b0 + c];
          const ok = v === v;
          best[c] = ok ? v : -Infinity;
          pos[c] = ok ? b0 + c : -1;
        }
        for (let k = 1; k < n; k++) {
          const bk = bases[k];
          for (let c = 0; c < C; c++) {
            const v = x[bk + c];
            if (v >= best[c]) {
              best[c] = v;
              pos[c] = bk + c;
            }
          }
        }
        const out = ((b * OH + oh) * OW + ow) * C;
        for (let c = 0; c < C; c++) if (pos[c] >= 0) dx[pos[c]] = dy[out + c];
      }
    }
  }
}

/** The 2×2/2 unpadded case (every SmallCNN pool), same rules with scalar temporaries: ~1.5× faster. */
function pool2x2Grad(x: Float32Array, dy: Float32Array, dx: Float32Array, N: number, H: number, W: number, C: number, OH: number, OW: number): void {
  const rowStride = W * C;
  let o = 0;
  for (let b = 0; b < N; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const p0 = ((b * H + 2 * oh) * W + 2 * ow) * C;
        const p1 = p0 + C;
        const p2 = p0 + rowStride;
        const p3 = p2 + C;
        for (let c = 0; c < C; c++, o++) {
          const v0 = x[p0 + c];
          let best = v0 === v0 ? v0 : -Infinity;
          let pos = v0 === v0 ? p0 + c : -1;
          const v1 = x[p1 + c];
          if (v1 >= best) {
            best = v1;
            pos = p1 + c;
          }
          const v2 = x[p2 + c];
          if (v2 >= best) {
            best = v2;
            pos = p2 + c;
          }
          if (x[p3 + c] >= best) pos = p3 + c;
          if (pos >= 0) dx[pos] = dy[o];
        }
      }
    }
  }
}

function maxPoolGradKernel(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: tf.KernelBackend }): tf.TensorInfo | null {
  const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const a = args.attrs as unknown as PoolAttrs;
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
  if (info.strideHeight < info.effectiveFilterHeight || info.strideWidth < info.effectiveFilterWidth || input.dtype !== 'float32') return null;
  const backend = args.backend as WasmHeapBackend;
  const dx = backend.makeOutput(input.shape, 'float32');
  // views after the allocation: growing the heap detaches earlier views
  maxPoolGradNonOverlapping(backend.typedArrayFromHeap(input), backend.typedArrayFromHeap(dy), backend.typedArrayFromHeap(dx), info);
  return dx;
}

export function installMaxPoolOverride(): void {
  registerKernelOverride('MaxPoolGrad', maxPoolGradKernel);
}
