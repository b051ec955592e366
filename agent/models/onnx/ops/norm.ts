/**
 * Reductions, softmax and normalisation layers.
 *
 * BatchNormalization (inference) is a per-channel scale and shift computed once from its constants
 * (and usually disappears before this runs: ../fuse.ts folds it into the preceding Conv). Reductions
 * and Softmax on NHWC-held values map their axes; LayerNormalization works in the logical order.
 */
import * as tf from '@tensorflow/tfjs';
import { hostTensor } from '../ir.ts';
import { hostToTensor, logicalShape, normAxis, permute, plain, toPlain, LOGICAL, PHYS, type Held } from '../layout.ts';
import type { OpArgs, OpImpl } from './op.ts';

function axesOf(a: OpArgs, given: number[] | undefined, rank: number, noopWhenEmpty: boolean): number[] | null {
  if (!given || given.length === 0) return noopWhenEmpty ? null : Array.from({ length: rank }, (_, i) => i);
  return [...new Set(given.map((x) => {
    const n = normAxis(x, rank);
    if (n === null) throw a.invalid(`axis ${x} out of range for rank ${rank}`, 'axes');
    return n;
  }))].sort();
}

type Reducer = (x: tf.Tensor, axes: number[], keep: boolean) => tf.Tensor;

/** A reduction over logical axes of a held value (NHWC-held values reduce in place). */
export function reduceHeld(h: Held, axes: number[], keepDims: boolean, f: Reducer): Held {
  if (!h.nhwc) return plain(f(h.t, axes, keepDims));
  const phys: number[] = axes.map((x) => PHYS[x as 0 | 1 | 2 | 3]);
  const r = f(h.t, phys, keepDims);
  if (keepDims) return { t: r, nhwc: true };
  // the surviving physical axes, named by their logical axis; bring them to logical order
  const survivors = [0, 1, 2, 3].filter((p) => !phys.includes(p)).map((p) => LOGICAL[p]);
  const order = survivors.map((_, i) => i).sort((i, j) => survivors[i] - survivors[j]);
  return plain(permute(r, order));
}

function reduce(f: Reducer, axesInputFrom: number): OpImpl {
  return (a) => {
    const h = a.held(0);
    if (h.t.dtype === 'bool') throw a.unsupported('bool input');
    const rank = logicalShape(h).length;
    const keep = a.attrs.int('keepdims', 1) === 1;
    let given: number[] | undefined;
    let noop = false;
    if (a.opset >= axesInputFrom) {
      a.count(1, 2);
      given = a.present(1) ? a.numbers(1, 'axes') : undefined;
      noop = a.attrs.int('noop_with_empty_axes', 0) === 1;
    } else {
      a.count(1);
      given = a.attrs.ints('axes');
    }
    const axes = axesOf(a, given, rank, noop);
    if (axes === null) return [{ t: tf.clone(h.t), nhwc: h.nhwc }];
    return [reduceHeld(h, axes, keep, f)];
  };
}

function softmaxOp(f: (x: tf.Tensor) => tf.Tensor): OpImpl {
  return (a) => {
    a.count(1);
    const h = a.held(0);
    const s = logicalShape(h);
    const rank = s.length;
    const axisAttr = a.attrs.int('axis', a.opset >= 13 ? -1 : 1);
    const axis = normAxis(axisAttr, rank);
    if (axis === null) throw a.invalid(`axis ${axisAttr} out of range for rank ${rank}`, 'axis');
    if (a.opset < 13 && axis !== rank - 1) {
      // before opset 13: the input is flattened to 2-D at `axis` and normalised over the second part
      const inner = s.slice(axis).reduce((x, y) => x * y, 1);
      const flat = tf.reshape(toPlain(h), [-1, inner]);
      return [plain(tf.reshape(f(flat), s))];
    }
    const phys = h.nhwc ? PHYS[axis] : axis;
    const last = h.t.rank - 1;
    if (phys === last) return [{ t: f(h.t), nhwc: h.nhwc }];
    // move the axis last, normalise, move it back
    const perm = Array.from({ length: h.t.rank }, (_, i) => i).filter((i) => i !== phys).concat([phys]);
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [{ t: permute(f(permute(h.t, perm)), inv), nhwc: h.nhwc }];
  };
}

const BatchNormalization: OpImpl = (a) => {
  a.count(5);
  a.attrs.ignore('momentum', 'is_test', 'consistent_broadcast');
  const training = a.attrs.int('training_mode', 0);
  a.attrs.expect('training_mode', training, [0]);
  const spatial = a.attrs.int('spatial', 1);
  a.attrs.expect('spatial', spatial, [1]);
  if (a.node.outputs.slice(1).some((o) => o !== '')) throw a.unsupported('running-statistics outputs (training mode) are not supported');
  const h = a.held(0);
  const rank = logicalShape(h).length;
  const C = logicalShape(h)[1];
  const { scale, shift } = a.memo('bn', () => batchNormAffine(a, C));
  const shape = h.nhwc ? [C] : [C, ...Array(Math.max(0, rank - 2)).fill(1)];
  const key = h.nhwc ? 'nhwc' : `r${rank}`;
  const sc = a.keep(`scale:${key}`, () => tf.reshape(hostToTensor(scale), shape));
  const sh = a.keep(`shift:${key}`, () => tf.reshape(hostToTensor(shift), shape));
  return [{ t: tf.add(tf.mul(h.t, sc), sh), nhwc: h.nhwc }];
};

/** Inference batch norm as y = x·scale + shift (computed in float64, rounded once). */
export function batchNormAffine(a: OpArgs, C: number) {
  const epsilon = a.attrs.float('epsilon', 1e-5);
  const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((i) => a.constant(i, ['scale', 'B', 'mean', 'var'][i - 1]));
  for (const t of [gamma, beta, mean, variance]) if (t.data.length !== C) throw a.invalid(`per-channel parameter of ${t.data.length} values for ${C} channels`);
  const scale = Array.from({ length: C }, (_, c) => gamma.data[c] / Math.sqrt(variance.data[c] + epsilon));
  const shift = Array.from({ length: C }, (_, c) => beta.data[c] - mean.data[c] * scale[c]);
  return { scale: hostTensor('float32', [C], scale), shift: hostTensor('float32', [C], shift) };
}

const LayerNormalization: OpImpl = (a) => {
  a.count(2, 3);
  if (a.node.outputs.slice(1).some((o) => o !== '')) throw a.unsupported('the Mean / InvStdDev outputs are not supported');
  const stash = a.attrs.int('stash_type', 1);
  a.attrs.expect('stash_type', stash, [1]);
  const epsilon = a.attrs.float('epsilon', 1e-5);
  const h = a.held(0);
  const x = toPlain(h);
  const axisAttr = a.attrs.int('axis', -1);
  const axis = normAxis(axisAttr, x.rank);
  if (axis === null) throw a.invalid(`axis ${axisAttr} out of range for rank ${x.rank}`, 'axis');
  const axes = Array.from({ length: x.rank - axis }, (_, i) => axis + i);
  const mean = tf.mean(x, axes, true);
  const d = tf.sub(x, mean);
  const variance = tf.mean(tf.square(d), axes, true);
  let y = tf.mul(tf.mul(d, tf.rsqrt(tf.add(variance, epsilon))), a.held(1).t);
  if (a.present(2)) y = tf.add(y, a.held(2).t);
  return [plain(y)];
};

export const normOps: Record<string, OpImpl> = {
  BatchNormalization,
  LayerNormalization,
  Softmax: softmaxOp((x) => tf.softmax(x)),
  LogSoftmax: softmaxOp((x) => tf.logSoftmax(x)),
  ReduceMean: reduce((x, ax, k) => tf.mean(x, ax, k), 18),
  ReduceSum: reduce((x, ax, k) => tf.sum(x, ax, k), 13),
  ReduceMax: reduce((x, ax, k) => tf.max(x, ax, k), 18),
  ReduceMin: reduce((x, ax, k) => tf.min(x, ax, k), 18),
};
