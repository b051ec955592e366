/**
 * Element-wise ops: activations (unary, layout-preserving) and numpy-broadcasting arithmetic and
 * comparisons. When one operand is NHWC-held, the others are aligned to rank 4 and stored NHWC too
 * (a [C, 1, 1] normalisation constant becomes [1, 1, 1, C], made once per node), so per-channel
 * arithmetic never moves the activation.
 */
import * as tf from '@tensorflow/tfjs';
import { broadcastableNhwc, toPlain, type Held } from '../layout.ts';
import type { OpArgs, OpImpl } from './op.ts';

/** All operands in one layout: NHWC when one is NHWC-held and none has rank > 4. */
export function aligned(a: OpArgs, indices: number[]): { ts: tf.Tensor[]; nhwc: boolean } {
  const held = indices.map((i) => a.held(i));
  const nhwc = held.some((h) => h.nhwc) && held.every((h) => h.nhwc || h.t.rank <= 4);
  if (!nhwc) return { ts: held.map(toPlain), nhwc: false };
  const ts = held.map((h, k) => {
    if (h.nhwc) return h.t;
    const i = indices[k];
    return a.isConstant(i) ? a.keep(`in${i}:nhwc`, () => broadcastableNhwc(h.t)) : broadcastableNhwc(h.t);
  });
  return { ts, nhwc: true };
}

function floatInput(a: OpArgs, i: number): Held {
  const h = a.held(i);
  if (h.t.dtype !== 'float32') throw a.unsupported(`input ${i} has dtype ${h.t.dtype}; this op is implemented for float tensors only`);
  return h;
}

function unary(f: (x: tf.Tensor, a: OpArgs) => tf.Tensor, check?: (a: OpArgs) => void): OpImpl {
  return (a) => {
    a.count(1);
    check?.(a);
    const h = floatInput(a, 0);
    return [{ t: f(h.t, a), nhwc: h.nhwc }];
  };
}

const SQRT1_2 = Math.SQRT1_2;

function gelu(x: tf.Tensor, approximate: string): tf.Tensor {
  if (approximate === 'tanh') {
    const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
  }
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, SQRT1_2)), 1));
}

/** ELU with any alpha from differentiable ops: relu(x) + alpha·(exp(min(x, 0)) − 1). */
function elu(x: tf.Tensor, alpha: number): tf.Tensor {
  if (alpha === 1) return tf.elu(x);
  return tf.add(tf.relu(x), tf.mul(tf.expm1(tf.minimum(x, 0)), alpha));
}

/**
 * A comparison or logical op whose operands may depend on the model input. Its (bool) result has
 * no gradient, but tfjs's tape still walks back through it (e.g. into Where's condition) and has
 * no gradient function for comparisons; wrapping it declares zero gradients for the operands.
 */
function noGrad(f: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor): (x: tf.Tensor, y: tf.Tensor) => tf.Tensor {
  return (x, y) => {
    if (x.dtype !== 'float32' && y.dtype !== 'float32') return f(x, y);
    const g = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const [a, b] = args as [tf.Tensor, tf.Tensor];
      // shapes, not tensors: the operands may be released before the backward pass runs
      const [sa, sb] = [a.shape, b.shape];
      return { value: f(a, b), gradFunc: () => [tf.zeros(sa), tf.zeros(sb)] };
    });
    return g(x, y);
  };
}

const SELU_ALPHA = 1.67326319217681884765625;
const SELU_GAMMA = 1.05070102214813232421875;

export const unaryOps: Record<string, OpImpl> = {
  Relu: unary((x) => tf.relu(x)),
  LeakyRelu: unary((x, a) => tf.leakyRelu(x, a.attrs.float('alpha', 0.01))),
  Sigmoid: unary((x) => tf.sigmoid(x)),
  Tanh: unary((x) => tf.tanh(x)),
  Softplus: unary((x) => tf.softplus(x)),
  Softsign: unary((x) => tf.div(x, tf.add(tf.abs(x), 1))),
  Elu: unary((x, a) => elu(x, a.attrs.float('alpha', 1))),
  Selu: unary((x, a) => {
    const alpha = a.attrs.float('alpha', SELU_ALPHA);
    const gamma = a.attrs.float('gamma', SELU_GAMMA);
    if (Math.fround(alpha) === Math.fround(SELU_ALPHA) && Math.fround(gamma) === Math.fround(SELU_GAMMA)) return tf.selu(x);
    return tf.mul(elu(x, alpha), gamma);
  }),
  Erf: unary((x) => tf.erf(x)),
  Gelu: unary((x, a) => {
    const approximate = a.attrs.string('approximate', 'none');
    a.attrs.expect('approximate', approximate, ['none', 'tanh']);
    return gelu(x, approximate);
  }),
  HardSigmoid: unary((x, a) => tf.clipByValue(tf.add(tf.mul(x, a.attrs.float('alpha', 0.2)), a.attrs.float('beta', 0.5)), 0, 1)),
  HardSwish: unary((x) => tf.mul(x, tf.clipByValue(tf.add(tf.mul(x, 1 / 6), 0.5), 0, 1))),
  Mish: unary((x) => tf.mul(x, tf.tanh(tf.softplus(x)))),
  Exp: unary((x) => tf.exp(x)),
  Log: unary((x) => tf.log(x)),
  Sqrt: unary((x) => tf.sqrt(x)),
  Reciprocal: unary((x) => tf.reciprocal(x)),
  Abs: (a) => {
    a.count(1);
    const h = a.held(0);
    return [{ t: tf.abs(h.t), nhwc: h.nhwc }];
  },
  Neg: (a) => {
    a.count(1);
    const h = a.held(0);
    return [{ t: tf.neg(h.t), nhwc: h.nhwc }];
  },
  // piecewise-constant: zero gradient, as in PyTorch
  Floor: unary((x) => tf.floor(x)),
  Ceil: unary((x) => tf.ceil(x)),
  Sign: unary((x) => tf.sign(x)),
  Not: (a) => {
    a.count(1);
    const h = a.held(0);
    return [{ t: tf.logicalNot(h.t), nhwc: h.nhwc }];
  },
};

/** Integer division truncating toward zero (ONNX / C semantics; tfjs floors). */
function intDiv(x: tf.Tensor, y: tf.Tensor): tf.Tensor {
  const q = tf.floorDiv(tf.abs(x), tf.abs(y));
  return tf.mul(q, tf.mul(tf.sign(x), tf.sign(y)));
}

function binary(f: (x: tf.Tensor, y: tf.Tensor, a: OpArgs) => tf.Tensor): OpImpl {
  return (a) => {
    a.count(2);
    const { ts, nhwc } = aligned(a, [0, 1]);
    if (ts[0].dtype !== ts[1].dtype) throw a.unsupported(`operands have different dtypes (${ts[0].dtype}, ${ts[1].dtype})`);
    return [{ t: f(ts[0], ts[1], a), nhwc }];
  };
}

/** Pow with a constant scalar exponent runs as the cheaper equivalent op (same values as PyTorch's special cases). */
function pow(a: OpArgs): Held[] {
  a.count(2);
  if (a.isConstant(1) && a.host(1, 'exponent').data.length === 1 && a.host(1, 'exponent').shape.length === 0) {
    const e = a.host(1, 'exponent').data[0];
    const h = a.held(0);
    const f = (x: tf.Tensor) => (e === 1 ? tf.clone(x) : e === 2 ? tf.square(x) : e === 0.5 ? tf.sqrt(x) : e === 3 ? tf.mul(tf.square(x), x) : tf.pow(x, tf.scalar(e, x.dtype)));
    return [{ t: f(h.t), nhwc: h.nhwc }];
  }
  const { ts, nhwc } = aligned(a, [0, 1]);
  return [{ t: tf.pow(ts[0], ts[1]), nhwc }];
}

function variadic(f: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor): OpImpl {
  return (a) => {
    if (a.inputs.length < 1) a.count(1, Infinity);
    const { ts, nhwc } = aligned(
      a,
      a.inputs.map((_, i) => i),
    );
    let t = ts[0];
    for (let i = 1; i < ts.length; i++) t = f(t, ts[i]);
    if (ts.length === 1) t = tf.clone(t);
    return [{ t, nhwc }];
  };
}

export const binaryOps: Record<string, OpImpl> = {
  Add: binary((x, y) => tf.add(x, y)),
  Sub: binary((x, y) => tf.sub(x, y)),
  Mul: binary((x, y) => tf.mul(x, y)),
  Div: binary((x, y) => (x.dtype === 'int32' ? intDiv(x, y) : tf.div(x, y))),
  Pow: pow,
  Equal: binary(noGrad((x, y) => tf.equal(x, y))),
  Less: binary(noGrad((x, y) => tf.less(x, y))),
  LessOrEqual: binary(noGrad((x, y) => tf.lessEqual(x, y))),
  Greater: binary(noGrad((x, y) => tf.greater(x, y))),
  GreaterOrEqual: binary(noGrad((x, y) => tf.greaterEqual(x, y))),
  And: binary((x, y) => tf.logicalAnd(x, y)),
  Or: binary((x, y) => tf.logicalOr(x, y)),
  Max: variadic((x, y) => tf.maximum(x, y)),
  Min: variadic((x, y) => tf.minimum(x, y)),
  Sum: variadic((x, y) => tf.add(x, y)),
  Where: (a) => {
    a.count(3);
    const { ts, nhwc } = aligned(a, [0, 1, 2]);
    const bc = tf.backend_util.assertAndGetBroadcastShape;
    const shape = bc(bc(ts[0].shape, ts[1].shape), ts[2].shape);
    // tf.where needs equal shapes: broadcast by adding zeros (no Tile kernel; its gradient is a sum)
    const grow = (t: tf.Tensor) => (t.shape.join() === shape.join() ? t : t.dtype === 'bool' ? tf.logicalOr(t, tf.zeros(shape, 'bool')) : tf.add(t, tf.zeros(shape, t.dtype)));
    return [{ t: tf.where(grow(ts[0]), grow(ts[1]), grow(ts[2])), nhwc }];
  },
  PRelu: (a) => {
    a.count(2);
    const { ts, nhwc } = aligned(a, [0, 1]);
    const [x, slope] = ts;
    // max(x, 0) + slope · min(x, 0)
    return [{ t: tf.add(tf.relu(x), tf.mul(slope, tf.minimum(x, 0))), nhwc }];
  },
  Clip: (a) => {
    const h = a.held(0);
    let lo = -Infinity;
    let hi = Infinity;
    if (a.opset < 11) {
      lo = a.attrs.float('min', -Infinity);
      hi = a.attrs.float('max', Infinity);
    } else {
      a.count(1, 3);
      if (a.present(1)) lo = a.numbers(1, 'min')[0];
      if (a.present(2)) hi = a.numbers(2, 'max')[0];
    }
    if (h.t.dtype === 'int32') return [{ t: tf.minimum(tf.maximum(h.t, Math.max(lo, -2147483648)), Math.min(hi, 2147483647)), nhwc: h.nhwc }];
    return [{ t: tf.clipByValue(h.t, lo, hi), nhwc: h.nhwc }];
  },
};
