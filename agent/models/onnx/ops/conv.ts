/**
 * Conv and ConvTranspose in NHWC. Weights are transposed once (OIHW → HWIO, depthwise → [kh, kw,
 * C, mult], groups → one HWIO filter per group) into non-trainable tf.Variables, so that the
 * engine's derived-filter cache and XNNPACK's packed weights recognise them as model weights.
 *
 * Ordinary convolutions (dilation 1, any stride and padding, groups via split/concat) are plain
 * tf.conv2d: their gradient is the engine's input-gradient override (engine/conv-grad.ts), the same
 * path as hand-built tfjs models, and the weights are not gradient targets, so no filter gradient
 * is computed. Depthwise and dilated convolutions take conv-grads.ts. Explicit (also asymmetric)
 * padding goes to the kernels as tfjs ExplicitPadding: no padded copy of the input.
 */
import * as tf from '@tensorflow/tfjs';
import { hostToTensor, nhwcHeld, toNhwc, logicalShape } from '../layout.ts';
import { convGradFilter, depthwiseConv, depthwiseGradFilter, dilatedConv, type WindowSpec } from './conv-grads.ts';
import { explicitPadding, kernelShape, windowGeometry } from './geometry.ts';
import type { OpArgs, OpImpl } from './op.ts';

function dataInput(a: OpArgs): tf.Tensor4D {
  const h = a.held(0);
  const s = logicalShape(h);
  if (s.length !== 4) throw a.unsupported(`input of rank ${s.length}: only 2-D convolutions ([N, C, H, W]) are supported`);
  if (h.t.dtype !== 'float32') throw a.unsupported(`input dtype ${h.t.dtype}`);
  return toNhwc(h);
}

function biasOf(a: OpArgs, i: number, channels: number): tf.Tensor | null {
  if (!a.present(i)) return null;
  const b = a.constant(i, 'bias');
  if (b.shape.length !== 1 || b.shape[0] !== channels) throw a.invalid(`bias of shape [${b.shape.join(', ')}] for ${channels} output channels`);
  return a.keep('bias', () => hostToTensor(b));
}

const Conv: OpImpl = (a) => {
  a.count(2, 3);
  const x = dataInput(a);
  const w = a.constant(1, 'weight');
  if (w.shape.length !== 4) throw a.unsupported(`weight of rank ${w.shape.length}: only 2-D convolutions are supported`);
  const [M, Cg, kh, kw] = w.shape;
  const [, H, W, C] = x.shape;
  const group = a.attrs.int('group', 1);
  if (group < 1 || C !== Cg * group || M % group !== 0) throw a.invalid(`group ${group} does not fit ${C} input channels and a weight of shape [${w.shape.join(', ')}]`, 'group');
  kernelShape(a, [kh, kw]);
  const g = windowGeometry(a, [H, W], [kh, kw], true);
  const dilated = g.dilations[0] !== 1 || g.dilations[1] !== 1;
  if (dilated && (g.strides[0] !== 1 || g.strides[1] !== 1)) {
    throw a.unsupported(`dilations [${g.dilations.join(', ')}] together with strides [${g.strides.join(', ')}] (tfjs allows one or the other)`, 'dilations');
  }
  const spec: WindowSpec = g;
  const pad = explicitPadding(g.pads);
  const bias = biasOf(a, 2, M);
  const wt = () => hostToTensor(w) as tf.Tensor4D;
  let y: tf.Tensor4D;
  if (group === 1) {
    const f = a.weight('hwio', () => tf.transpose(wt(), [2, 3, 1, 0])) as tf.Tensor4D;
    if (dilated) {
      y = dilatedConv(x, f, a.keep('hwio-grad', () => convGradFilter(f)), spec);
    } else if (tf.engine().state.gradientDepth === 0) {
      // forward only (evaluation): the fused kernel adds the bias in the same pass
      return [nhwcHeld(tf.fused.conv2d({ x, filter: f, strides: g.strides, pad, bias: bias ?? undefined }))];
    } else {
      y = tf.conv2d(x, f, g.strides, pad, 'NHWC', 1);
    }
  } else if (group === C && Cg === 1) {
    const mult = M / C;
    const f = a.weight('dw', () => tf.transpose(tf.reshape(wt(), [C, mult, kh, kw]), [2, 3, 0, 1])) as tf.Tensor4D;
    y = depthwiseConv(x, f, a.keep('dw-grad', () => depthwiseGradFilter(f)), spec);
  } else {
    const Mg = M / group;
    const parts = tf.split(x, group, 3) as tf.Tensor4D[];
    const outs = parts.map((xp, gi) => {
      const f = a.weight(`hwio${gi}`, () => tf.transpose(tf.slice(wt(), [gi * Mg, 0, 0, 0], [Mg, Cg, kh, kw]), [2, 3, 1, 0])) as tf.Tensor4D;
      return dilated ? dilatedConv(xp, f, a.keep(`hwio${gi}-grad`, () => convGradFilter(f)), spec) : tf.conv2d(xp, f, g.strides, pad, 'NHWC', 1);
    });
    y = tf.concat(outs, 3) as tf.Tensor4D;
  }
  return [nhwcHeld(bias ? tf.add(y, bias) : y)];
};

const ConvTranspose: OpImpl = (a) => {
  a.count(2, 3);
  const x = dataInput(a);
  const w = a.constant(1, 'weight');
  if (w.shape.length !== 4) throw a.unsupported(`weight of rank ${w.shape.length}: only 2-D transposed convolutions are supported`);
  const [C, Mg, kh, kw] = w.shape;
  const [N, H, W, Cx] = x.shape;
  const group = a.attrs.int('group', 1);
  if (group < 1 || Cx !== C || C % group !== 0) throw a.invalid(`weight of shape [${w.shape.join(', ')}] and group ${group} for ${Cx} input channels`, 'group');
  const M = Mg * group;
  const Cg = C / group;
  kernelShape(a, [kh, kw]);
  const autoPad = a.attrs.string('auto_pad', 'NOTSET');
  a.attrs.expect('auto_pad', autoPad, ['NOTSET', 'VALID']);
  const g = windowGeometry(a, [H, W], [kh, kw], true);
  if (g.dilations[0] !== 1 || g.dilations[1] !== 1) throw a.unsupported(`dilations [${g.dilations.join(', ')}] (only 1 is supported for ConvTranspose)`, 'dilations');
  const op = a.attrs.ints('output_padding') ?? [0, 0];
  if (op.length !== 2 || op.some((v, i) => v < 0 || v >= g.strides[i])) throw a.unsupported(`output_padding [${op.join(', ')}] (each must be below its stride)`, 'output_padding');
  const natural = [0, 1].map((i) => g.strides[i] * ([H, W][i] - 1) + op[i] + [kh, kw][i] - g.pads[i] - g.pads[i + 2]);
  const outShape = a.attrs.ints('output_shape');
  if (outShape && (outShape.length !== 2 || outShape[0] !== natural[0] || outShape[1] !== natural[1])) {
    throw a.unsupported(`output_shape [${outShape.join(', ')}] that needs implicit padding (the pads give [${natural.join(', ')}])`, 'output_shape');
  }
  // per group: input channels [gi·Cg, (gi+1)·Cg) → output channels [gi·Mg, (gi+1)·Mg); filter [kh, kw, Mg, Cg]
  const parts = group === 1 ? [x] : (tf.split(x, group, 3) as tf.Tensor4D[]);
  const outs = parts.map((xp, gi) => {
    const f = a.weight(`hwoi${gi}`, () => tf.transpose(tf.slice(hostToTensor(w), [gi * Cg, 0, 0, 0], [Cg, Mg, kh, kw]), [2, 3, 1, 0])) as tf.Tensor4D;
    return tf.conv2dTranspose(xp, f, [N, natural[0], natural[1], Mg], g.strides, explicitPadding(g.pads));
  });
  const y = outs.length === 1 ? outs[0] : tf.concat(outs, 3);
  const bias = biasOf(a, 2, M);
  return [nhwcHeld(bias ? tf.add(y, bias) : y)];
};

export const convOps: Record<string, OpImpl> = { Conv, ConvTranspose };
