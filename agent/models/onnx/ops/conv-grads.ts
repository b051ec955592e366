/**
 * Input gradients for the convolutions tfjs cannot differentiate on wasm, built from forward
 * convolutions (XNNPACK) with tf.customGrad: only the input gradient exists (weights are
 * constants), so no filter gradient can ever be computed.
 *
 * - depthwise (ONNX group = C): tfjs-backend-wasm has no DepthwiseConv2dNativeBackpropInput;
 * - dilated (dilations > 1, stride 1): tfjs's Conv2D gradient rejects dilations.
 *
 * Both use the same identity: the input gradient of a stride-s correlation is the correlation of
 * dy, zero-dilated by s and padded by (k_eff − 1 − pad_begin) / (k_eff − 1 − pad_end − slack), with
 * the spatially flipped filter (same dilation), channels swapped. Ordinary convolutions (dilation 1,
 * any group count) do not come here: tf.conv2d's gradient is the engine's fast override
 * (engine/conv-grad.ts), the path hand-built tfjs models take.
 */
import * as tf from '@tensorflow/tfjs';

/** Insert s−1 zero rows / columns between the rows / columns of an NHWC tensor. */
function zeroDilate(dy: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return dy;
  const [N, OH, OW, M] = dy.shape;
  let t: tf.Tensor = tf.reshape(dy, [N * OH, 1, OW, 1, M]);
  t = tf.pad(t, [[0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
  t = tf.reshape(t, [N, OH * sh, OW * sw, M]);
  return tf.slice(t, [0, 0, 0, 0], [N, (OH - 1) * sh + 1, (OW - 1) * sw + 1, M]) as tf.Tensor4D;
}

/**
 * Bring the zero-dilated dy to the padding the gradient correlation needs: crops where a padding
 * is negative (forward pads larger than the effective kernel), returns the positive rest as the
 * correlation's explicit padding.
 */
function gradPadding(
  dyd: tf.Tensor4D,
  inSize: [number, number],
  kEff: [number, number],
  padBegin: [number, number],
): { t: tf.Tensor4D; pad: tf.backend_util.ExplicitPadding } {
  const before = [kEff[0] - 1 - padBegin[0], kEff[1] - 1 - padBegin[1]];
  const after = [0, 1].map((i) => inSize[i] + kEff[i] - 1 - before[i] - dyd.shape[i + 1]);
  const begin = [0, Math.max(0, -before[0]), Math.max(0, -before[1]), 0];
  const size = [dyd.shape[0], dyd.shape[1] - begin[1] - Math.max(0, -after[0]), dyd.shape[2] - begin[2] - Math.max(0, -after[1]), dyd.shape[3]];
  const t = begin.some((b) => b > 0) || size[1] !== dyd.shape[1] || size[2] !== dyd.shape[2] ? (tf.slice(dyd, begin, size) as tf.Tensor4D) : dyd;
  return { t, pad: [[0, 0], [Math.max(0, before[0]), Math.max(0, after[0])], [Math.max(0, before[1]), Math.max(0, after[1])], [0, 0]] };
}

export interface WindowSpec {
  strides: [number, number];
  dilations: [number, number];
  /** top, left, bottom, right */
  pads: [number, number, number, number];
}

function forwardPad(s: WindowSpec): tf.backend_util.ExplicitPadding {
  return [[0, 0], [s.pads[0], s.pads[2]], [s.pads[1], s.pads[3]], [0, 0]];
}

/**
 * Depthwise convolution (filter [kh, kw, C, mult]; output channel c·mult + j) with an input-only
 * gradient. `flipped` is the gradient filter [kh, kw, C·mult, 1] (see depthwiseGradFilter).
 */
export function depthwiseConv(x: tf.Tensor4D, filter: tf.Tensor4D, flipped: tf.Tensor4D, spec: WindowSpec): tf.Tensor4D {
  const [kh, kw, C, mult] = filter.shape;
  const [H, W] = [x.shape[1], x.shape[2]];
  const kEff: [number, number] = [(kh - 1) * spec.dilations[0] + 1, (kw - 1) * spec.dilations[1] + 1];
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const xx = args[0] as tf.Tensor4D;
    const value = tf.depthwiseConv2d(xx, filter, spec.strides, forwardPad(spec), 'NHWC', spec.dilations);
    const gradFunc = (dy: tf.Tensor4D) => {
      const dyd = zeroDilate(dy, spec.strides[0], spec.strides[1]);
      const { t, pad } = gradPadding(dyd, [H, W], kEff, [spec.pads[0], spec.pads[1]]);
      let g: tf.Tensor = tf.depthwiseConv2d(t, flipped, 1, pad, 'NHWC', spec.dilations); // [N, H, W, C·mult]
      if (mult > 1) g = tf.sum(tf.reshape(g, [g.shape[0], H, W, C, mult]), 4);
      return g;
    };
    return { value, gradFunc };
  });
  return f(x) as tf.Tensor4D;
}

/** [kh, kw, C, mult] → spatially flipped [kh, kw, C·mult, 1]. */
export function depthwiseGradFilter(filter: tf.Tensor4D): tf.Tensor4D {
  const [kh, kw, C, mult] = filter.shape;
  return tf.reshape(tf.reverse(filter, [0, 1]), [kh, kw, C * mult, 1]);
}

/** [kh, kw, Cin, Cout] → flipped, channels swapped [kh, kw, Cout, Cin]. */
export function convGradFilter(filter: tf.Tensor4D): tf.Tensor4D {
  return tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]);
}

/** Dilated convolution (stride 1; tfjs allows no stride with dilation) with an input-only gradient. */
export function dilatedConv(x: tf.Tensor4D, filter: tf.Tensor4D, flipped: tf.Tensor4D, spec: WindowSpec): tf.Tensor4D {
  const [kh, kw] = filter.shape;
  const [H, W] = [x.shape[1], x.shape[2]];
  const kEff: [number, number] = [(kh - 1) * spec.dilations[0] + 1, (kw - 1) * spec.dilations[1] + 1];
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const xx = args[0] as tf.Tensor4D;
    const value = tf.conv2d(xx, filter, spec.strides, forwardPad(spec), 'NHWC', spec.dilations);
    const gradFunc = (dy: tf.Tensor4D) => {
      const dyd = zeroDilate(dy, spec.strides[0], spec.strides[1]);
      const { t, pad } = gradPadding(dyd, [H, W], kEff, [spec.pads[0], spec.pads[1]]);
      return tf.conv2d(t, flipped, 1, pad, 'NHWC', spec.dilations);
    };
    return { value, gradFunc };
  });
  return f(x) as tf.Tensor4D;
}
