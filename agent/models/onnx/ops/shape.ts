/**
 * Shape and data-movement ops. The ones whose result depends on the memory order (Reshape,
 * Flatten, Squeeze, Unsqueeze, Gather, Expand, Tile) work in the logical (NCHW) order: an NHWC-held
 * input is brought back first, which is what keeps PyTorch's flatten order exact. The ones with an
 * axis (Concat, Split, Slice, Pad) map the axis and keep NHWC-held values NHWC.
 *
 * Everything here is differentiable with kernels tfjs-backend-wasm has: strided and negative-step
 * slices are built from slice / reverse / reshape (tfjs has no StridedSlice gradient), gathers of
 * dynamic values from slices (GatherV2's gradient needs UnsortedSegmentSum, which wasm lacks), and
 * broadcasts add zeros (a BroadcastTo would run a Tile kernel).
 */
import * as tf from '@tensorflow/tfjs';
import { hostDType, sizeOf, hostTensor, type HostTensor } from '../ir.ts';
import { broadcastableNhwc, logicalShape, normAxis, permute, plain, toPlain, PHYS, type Held } from '../layout.ts';
import type { OpArgs, OpImpl } from './op.ts';

function axisOf(a: OpArgs, axis: number, rank: number, attr = 'axis'): number {
  const n = normAxis(axis, rank);
  if (n === null) throw a.invalid(`axis ${axis} out of range for rank ${rank}`, attr);
  return n;
}

function intsFrom(a: OpArgs, inputIndex: number, attr: string, minOpsetForInput: number, what: string): number[] | undefined {
  if (a.opset >= minOpsetForInput) return a.present(inputIndex) ? a.numbers(inputIndex, what) : undefined;
  return a.attrs.ints(attr);
}

/** Reshape target: 0 copies the input dim (unless allowzero), −1 is inferred. */
function resolveShape(a: OpArgs, input: number[], target: number[], allowZero: boolean): number[] {
  const out = target.map((d, i) => (d === 0 && !allowZero ? input[i] : d));
  if (out.some((d) => d === undefined)) throw a.invalid(`shape [${target.join(', ')}] copies a dim the input [${input.join(', ')}] lacks`);
  // a graph exported with a fixed batch size bakes that size into its reshape targets; when the
  // input's leading axis is the batch of this run, the baked size means that batch
  const { batch, fixedBatch } = a.info;
  if (batch !== null && fixedBatch !== null && batch !== fixedBatch && out[0] === fixedBatch && input[0] === batch) out[0] = batch;
  const known = out.filter((d) => d !== -1).reduce((x, y) => x * y, 1);
  const infer = out.filter((d) => d === -1).length;
  if (infer > 1) throw a.invalid(`shape [${target.join(', ')}] has more than one -1`);
  const total = sizeOf(input);
  if (infer === 1) {
    if (known === 0 || total % known !== 0) throw a.invalid(`cannot reshape [${input.join(', ')}] to [${target.join(', ')}]`);
    return out.map((d) => (d === -1 ? total / known : d));
  }
  if (known !== total) throw a.invalid(`cannot reshape [${input.join(', ')}] (${total} values) to [${out.join(', ')}]`);
  return out;
}

function reshapeHeld(h: Held, shape: number[]): Held {
  return plain(tf.reshape(toPlain(h), shape));
}

/** Slice one axis with any step, from differentiable kernels only. */
function sliceAxis(t: tf.Tensor, axis: number, start: number, count: number, step: number): tf.Tensor {
  const dim = t.shape[axis];
  if (count === dim && step === 1) return t;
  if (step < 0) {
    // element start, start+step, …: positions (dim-1-start), … with step −step in the reversed axis
    return sliceAxis(tf.reverse(t, axis), axis, dim - 1 - start, count, -step);
  }
  const begin = t.shape.map(() => 0);
  const size = [...t.shape];
  begin[axis] = start;
  if (step === 1 || count <= 1) {
    size[axis] = count;
    return tf.slice(t, begin, size);
  }
  // take count·step elements (zero-padded past the end), fold them to [count, step], keep column 0
  const avail = Math.min(count * step, dim - start);
  size[axis] = avail;
  let s = tf.slice(t, begin, size);
  if (avail < count * step) {
    const p: Array<[number, number]> = t.shape.map(() => [0, 0]);
    p[axis] = [0, count * step - avail];
    s = tf.pad(s, p);
  }
  const folded = [...t.shape.slice(0, axis), count, step, ...t.shape.slice(axis + 1)];
  const b2 = folded.map(() => 0);
  const s2 = [...folded];
  s2[axis + 1] = 1;
  const out = [...t.shape];
  out[axis] = count;
  return tf.reshape(tf.slice(tf.reshape(s, folded), b2, s2), out);
}

/** ONNX Slice semantics for one axis: clamped start and the element count. */
function sliceRange(start: number, end: number, step: number, dim: number): { start: number; count: number } {
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = Math.min(Math.max(s, 0), dim);
    e = Math.min(Math.max(e, 0), dim);
    return { start: s, count: Math.max(0, Math.ceil((e - s) / step)) };
  }
  s = Math.min(Math.max(s, 0), dim - 1);
  e = Math.min(Math.max(e, -1), dim - 1);
  return { start: s, count: Math.max(0, Math.ceil((s - e) / -step)) };
}

const Slice: OpImpl = (a) => {
  const h = a.held(0);
  const rank = logicalShape(h).length;
  let starts: number[];
  let ends: number[];
  let axes: number[] | undefined;
  let steps: number[] | undefined;
  if (a.opset < 10) {
    a.count(1);
    starts = a.attrs.ints('starts') ?? [];
    ends = a.attrs.ints('ends') ?? [];
    axes = a.attrs.ints('axes');
  } else {
    a.count(3, 5);
    starts = a.numbers(1, 'starts');
    ends = a.numbers(2, 'ends');
    axes = a.present(3) ? a.numbers(3, 'axes') : undefined;
    steps = a.present(4) ? a.numbers(4, 'steps') : undefined;
  }
  axes ??= starts.map((_, i) => i);
  steps ??= starts.map(() => 1);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) throw a.invalid('starts, ends, axes and steps differ in length');
  let t = h.t;
  const shape = logicalShape(h);
  for (let i = 0; i < starts.length; i++) {
    const ax = axisOf(a, axes[i], rank, 'axes');
    if (steps[i] === 0) throw a.invalid('a step of 0');
    const r = sliceRange(starts[i], ends[i], steps[i], shape[ax]);
    t = sliceAxis(t, h.nhwc ? PHYS[ax] : ax, r.start, r.count, steps[i]);
  }
  return [{ t: t === h.t ? tf.clone(t) : t, nhwc: h.nhwc }];
};

const Reshape: OpImpl = (a) => {
  let target: number[];
  if (a.opset < 5) {
    a.count(1);
    target = a.attrs.ints('shape') ?? [];
  } else {
    a.count(2);
    target = a.numbers(1, 'shape');
  }
  const allowZero = a.attrs.int('allowzero', 0) === 1;
  const h = a.held(0);
  return [reshapeHeld(h, resolveShape(a, logicalShape(h), target, allowZero))];
};

const Flatten: OpImpl = (a) => {
  a.count(1);
  const h = a.held(0);
  const s = logicalShape(h);
  const axis = a.attrs.int('axis', 1);
  const ax = axis < 0 ? axis + s.length : axis;
  if (ax < 0 || ax > s.length) throw a.invalid(`axis ${axis} out of range for rank ${s.length}`, 'axis');
  return [reshapeHeld(h, [sizeOf(s.slice(0, ax)), sizeOf(s.slice(ax))])];
};

const Transpose: OpImpl = (a) => {
  a.count(1);
  const h = a.held(0);
  const rank = logicalShape(h).length;
  const perm = a.attrs.ints('perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  if (perm.length !== rank || [...perm].sort().some((p, i) => p !== i)) throw a.invalid(`perm [${perm.join(', ')}] is not a permutation of rank ${rank}`, 'perm');
  // on an NHWC-held value, logical axis p sits at physical position PHYS[p]
  const phys = h.nhwc ? perm.map((p) => PHYS[p]) : perm;
  return [plain(permute(h.t, phys))];
};

const Concat: OpImpl = (a) => {
  if (a.inputs.length < 1) throw a.invalid('no inputs');
  const held = a.inputs.map((_, i) => a.held(i));
  const rank = logicalShape(held[0]).length;
  const axisAttr = a.attrs.int('axis') ?? (a.opset < 4 ? 1 : undefined);
  if (axisAttr === undefined) throw a.invalid('attribute axis is required', 'axis');
  const axis = axisOf(a, axisAttr, rank);
  const nhwc = held.some((h) => h.nhwc) && rank === 4;
  const ts = held.map((h, i) => (!nhwc ? toPlain(h) : h.nhwc ? h.t : a.isConstant(i) ? a.keep(`in${i}:nhwc`, () => broadcastableNhwc(h.t)) : broadcastableNhwc(h.t)));
  if (ts.some((t) => t.dtype !== ts[0].dtype)) throw a.unsupported('inputs of different dtypes');
  const out = ts.length === 1 ? tf.clone(ts[0]) : tf.concat(ts, nhwc ? PHYS[axis] : axis);
  return [{ t: out, nhwc }];
};

const Split: OpImpl = (a) => {
  const h = a.held(0);
  const s = logicalShape(h);
  const axis = axisOf(a, a.attrs.int('axis', 0), s.length);
  const dim = s[axis];
  const nOut = a.node.outputs.length;
  let sizes = a.opset >= 13 ? (a.present(1) ? a.numbers(1, 'split') : undefined) : a.attrs.ints('split');
  const numOutputs = a.opset >= 18 ? a.attrs.int('num_outputs') : undefined;
  if (!sizes) {
    const parts = numOutputs ?? nOut;
    const chunk = Math.ceil(dim / parts);
    sizes = Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(chunk, dim - i * chunk)));
  }
  if (sizes.length !== nOut || sizes.reduce((x, y) => x + y, 0) !== dim) throw a.invalid(`split sizes [${sizes.join(', ')}] do not fit ${nOut} outputs of an axis of ${dim}`);
  const parts = tf.split(h.t, sizes, h.nhwc ? PHYS[axis] : axis);
  return parts.map((t) => ({ t, nhwc: h.nhwc }));
};

const Squeeze: OpImpl = (a) => {
  const h = a.held(0);
  const s = logicalShape(h);
  const axes = intsFrom(a, 1, 'axes', 13, 'axes');
  const drop = new Set(axes ? axes.map((x) => axisOf(a, x, s.length, 'axes')) : s.flatMap((d, i) => (d === 1 ? [i] : [])));
  for (const d of drop) if (s[d] !== 1) throw a.invalid(`cannot squeeze axis ${d} of size ${s[d]}`);
  return [reshapeHeld(h, s.filter((_, i) => !drop.has(i)))];
};

const Unsqueeze: OpImpl = (a) => {
  const h = a.held(0);
  const s = logicalShape(h);
  const axes = intsFrom(a, 1, 'axes', 13, 'axes');
  if (!axes) throw a.invalid('axes are required');
  const rank = s.length + axes.length;
  const ins = new Set(axes.map((x) => axisOf(a, x, rank, 'axes')));
  const out: number[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) out.push(ins.has(i) ? 1 : s[k++]);
  return [reshapeHeld(h, out)];
};

const Gather: OpImpl = (a) => {
  a.count(2);
  const idx = a.host(1, 'indices');
  const h = a.held(0);
  const s = logicalShape(h);
  const axis = axisOf(a, a.attrs.int('axis', 0), s.length);
  const dim = s[axis];
  const flat = Array.from(idx.data, (i) => (i < 0 ? i + dim : i));
  if (flat.some((i) => i < 0 || i >= dim)) throw a.invalid(`indices out of range for an axis of ${dim}`);
  const outShape = [...s.slice(0, axis), ...idx.shape, ...s.slice(axis + 1)];
  const x = toPlain(h);
  if (a.isHost(0)) return [plain(tf.gather(x, tf.tensor(flat, [...idx.shape], 'int32'), axis))];
  // runs of consecutive indices become one slice each
  const pieces: tf.Tensor[] = [];
  for (let i = 0; i < flat.length; ) {
    let j = i + 1;
    while (j < flat.length && flat[j] === flat[j - 1] + 1) j++;
    pieces.push(sliceAxis(x, axis, flat[i], j - i, 1));
    i = j;
  }
  const joined = pieces.length === 1 ? pieces[0] : flat.length === 0 ? sliceAxis(x, axis, 0, 0, 1) : tf.concat(pieces, axis);
  return [plain(tf.reshape(joined, outShape))];
};

const Shape: OpImpl = (a) => {
  a.count(1);
  const o = a.inputs[0]!;
  const s = o.kind === 'host' ? [...o.value.shape] : logicalShape(o.held);
  const r = s.length;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  const start = clamp(a.attrs.int('start', 0));
  const end = clamp(a.attrs.int('end', r));
  const dims = s.slice(start, Math.max(start, end));
  return [hostTensor('int32', [dims.length], dims)];
};

const Size: OpImpl = (a) => {
  a.count(1);
  const o = a.inputs[0]!;
  const s = o.kind === 'host' ? [...o.value.shape] : logicalShape(o.held);
  return [hostTensor('int32', [], [sizeOf(s)])];
};

function constantOf(a: OpArgs): HostTensor {
  const names = ['value', 'value_float', 'value_floats', 'value_int', 'value_ints', 'value_string', 'value_strings', 'sparse_value'];
  const present = names.filter((n) => a.attrs.has(n));
  if (present.length !== 1) throw a.invalid(`needs exactly one value attribute, has ${present.length}`);
  const n = present[0];
  switch (n) {
    case 'value': return a.attrs.tensor('value')!;
    case 'value_float': return hostTensor('float32', [], [a.attrs.float(n)!]);
    case 'value_floats': { const v = a.attrs.floats(n)!; return hostTensor('float32', [v.length], v); }
    case 'value_int': return hostTensor('int32', [], [a.attrs.int(n)!]);
    case 'value_ints': { const v = a.attrs.ints(n)!; return hostTensor('int32', [v.length], v); }
    default: throw a.unsupported('string and sparse constants are not supported', n);
  }
}

/** Broadcast by adding zeros (gradient: a sum over the broadcast axes; no Tile kernel). */
function broadcastTo(t: tf.Tensor, shape: number[]): tf.Tensor {
  if (t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i])) return tf.clone(t);
  if (t.dtype === 'bool') return tf.logicalOr(t, tf.zeros(shape, 'bool'));
  return tf.add(t, tf.zeros(shape, t.dtype));
}

const Expand: OpImpl = (a) => {
  a.count(2);
  const h = a.held(0);
  const target = a.numbers(1, 'shape');
  const shape = tf.backend_util.assertAndGetBroadcastShape(logicalShape(h), target);
  return [plain(broadcastTo(toPlain(h), shape))];
};

const Tile: OpImpl = (a) => {
  a.count(2);
  const h = a.held(0);
  const s = logicalShape(h);
  const reps = a.numbers(1, 'repeats');
  if (reps.length !== s.length) throw a.invalid(`${reps.length} repeats for rank ${s.length}`);
  // tile = broadcast over an inserted leading axis per dim, then merge: [r0, d0, r1, d1, …] → [r0·d0, …]
  const x = tf.reshape(toPlain(h), s.flatMap((d) => [1, d]));
  const big = broadcastTo(x, s.flatMap((d, i) => [reps[i], d]));
  return [plain(tf.reshape(big, s.map((d, i) => d * reps[i])))];
};

const Pad: OpImpl = (a) => {
  const h = a.held(0);
  const s = logicalShape(h);
  const mode = a.attrs.string('mode', 'constant');
  a.attrs.expect('mode', mode, ['constant', 'reflect', 'edge']);
  let pads: number[];
  let value = 0;
  let axes = s.map((_, i) => i);
  if (a.opset < 11) {
    a.count(1);
    pads = a.attrs.ints(a.opset < 2 ? 'paddings' : 'pads') ?? [];
    value = a.attrs.float('value', 0);
  } else {
    a.count(2, 4);
    pads = a.numbers(1, 'pads');
    if (a.present(2)) {
      const v = a.host(2, 'constant_value');
      if (v.data.length) value = v.data[0];
    }
    if (a.present(3)) axes = a.numbers(3, 'axes').map((x) => axisOf(a, x, s.length, 'axes'));
  }
  if (pads.length !== 2 * axes.length) throw a.invalid(`${pads.length} pads for ${axes.length} axes`);
  const n = axes.length;
  let t = h.t;
  const phys = (ax: number) => (h.nhwc ? PHYS[ax] : ax);
  // negative pads crop
  for (let i = 0; i < n; i++) {
    const [b, e] = [pads[i], pads[i + n]];
    if (b < 0 || e < 0) {
      const ax = phys(axes[i]);
      const dim = t.shape[ax];
      t = sliceAxis(t, ax, Math.max(0, -b), dim - Math.max(0, -b) - Math.max(0, -e), 1);
    }
  }
  const p: Array<[number, number]> = t.shape.map(() => [0, 0]);
  for (let i = 0; i < n; i++) p[phys(axes[i])] = [Math.max(0, pads[i]), Math.max(0, pads[i + n])];
  if (p.every(([b, e]) => b === 0 && e === 0)) return [{ t: t === h.t ? tf.clone(t) : t, nhwc: h.nhwc }];
  if (mode === 'constant') return [{ t: tf.pad(t, p, value), nhwc: h.nhwc }];
  // reflect and edge from slices, reverses and broadcasts: tfjs's MirrorPad gradient drops the
  // reflected parts' contributions, and repeating an edge with Tile would run a Tile kernel
  for (let ax = 0; ax < p.length; ax++) {
    const [b, e] = p[ax];
    if (b === 0 && e === 0) continue;
    const dim = t.shape[ax];
    const parts: tf.Tensor[] = [];
    if (mode === 'reflect') {
      if (b >= dim || e >= dim) throw a.invalid(`reflect padding of ${Math.max(b, e)} on an axis of ${dim}`);
      if (b > 0) parts.push(tf.reverse(sliceAxis(t, ax, 1, b, 1), ax));
      parts.push(t);
      if (e > 0) parts.push(tf.reverse(sliceAxis(t, ax, dim - 1 - e, e, 1), ax));
    } else {
      const rep = (start: number, k: number) => {
        const edge = sliceAxis(t, ax, start, 1, 1);
        const shape = [...edge.shape];
        shape[ax] = k;
        return broadcastTo(edge, shape);
      };
      if (b > 0) parts.push(rep(0, b));
      parts.push(t);
      if (e > 0) parts.push(rep(dim - 1, e));
    }
    t = tf.concat(parts, ax);
  }
  return [{ t, nhwc: h.nhwc }];
};

const Cast: OpImpl = (a) => {
  a.count(1);
  const to = a.attrs.int('to');
  if (to === undefined) throw a.invalid('attribute to is required', 'to');
  const dtype = hostDType(to);
  if (!dtype) throw a.unsupported(`cast to element type ${to}`, 'to');
  a.attrs.ignore('saturate');
  const h = a.held(0);
  if (!a.isHost(0) && dtype !== 'float32') throw a.unsupported(`cast of a value computed from the model input to ${dtype} (it would cut the gradient)`, 'to');
  return [{ t: h.t.dtype === dtype ? tf.clone(h.t) : tf.cast(h.t, dtype), nhwc: h.nhwc }];
};

const Identity: OpImpl = (a) => {
  a.count(1);
  const x = a.inputs[0]!;
  return [x.kind === 'host' ? x.value : x.held];
};

const Dropout: OpImpl = (a) => {
  a.attrs.ignore('ratio', 'seed', 'is_test');
  if (a.node.outputs.length > 1 && a.node.outputs[1] !== '') throw a.unsupported('the mask output is not supported (inference only)');
  if (a.present(2)) {
    const training = a.host(2, 'training_mode');
    if (training.data[0]) throw a.unsupported('training_mode = true (inference only)');
  }
  const x = a.inputs[0];
  if (!x) throw a.invalid('input 0 is missing');
  return [x.kind === 'host' ? x.value : x.held];
};

const ConstantOfShape: OpImpl = (a) => {
  a.count(1);
  const shape = a.numbers(0, 'shape');
  const v = a.attrs.tensor('value') ?? hostTensor('float32', [1], [0]);
  if (v.data.length !== 1) throw a.invalid('value must hold one element', 'value');
  return [hostTensor(v.dtype, shape, new Array(sizeOf(shape)).fill(v.data[0]))];
};

const Range: OpImpl = (a) => {
  a.count(3);
  const [start, limit, delta] = [0, 1, 2].map((i) => a.numbers(i, ['start', 'limit', 'delta'][i])[0]);
  const dtype = a.host(0, 'start').dtype;
  const n = Math.max(0, Math.ceil((limit - start) / delta));
  return [hostTensor(dtype, [n], Array.from({ length: n }, (_, i) => start + i * delta))];
};

const Constant: OpImpl = (a) => {
  a.count(0);
  return [constantOf(a)];
};

export const shapeOps: Record<string, OpImpl> = {
  Reshape, Flatten, Transpose, Concat, Split, Slice, Squeeze, Unsqueeze, Gather, Shape, Size, Expand, Tile, Pad, Cast, Identity, Dropout,
  ConstantOfShape, Range, Constant,
};

export { sliceAxis };
