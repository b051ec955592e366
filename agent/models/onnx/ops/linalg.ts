/**
 * Gemm and MatMul, in the logical order. A constant right-hand side is stored once as a [K, N]
 * non-trainable tf.Variable (Gemm's transB and alpha applied at load): the engine's BatchMatMul
 * override then serves the input gradient dy·Wᵀ from a cached transpose, as for tfjs Dense layers.
 */
import * as tf from '@tensorflow/tfjs';
import { hostToTensor, plain, toPlain } from '../layout.ts';
import type { OpArgs, OpImpl } from './op.ts';

function floatPlain(a: OpArgs, i: number): tf.Tensor {
  const t = toPlain(a.held(i));
  if (t.dtype !== 'float32') throw a.unsupported(`input ${i} has dtype ${t.dtype}; only float is supported`);
  return t;
}

const Gemm: OpImpl = (a) => {
  a.count(2, 3);
  const alpha = a.attrs.float('alpha', 1);
  const beta = a.attrs.float('beta', 1);
  const transA = a.attrs.int('transA', 0) === 1;
  const transB = a.attrs.int('transB', 0) === 1;
  a.attrs.ignore('broadcast'); // opset < 7: C always broadcasts in the cases exporters write
  let x = floatPlain(a, 0);
  if (x.rank !== 2) throw a.invalid(`A must be 2-D, got shape [${x.shape.join(', ')}]`);
  if (transA) x = tf.transpose(x);
  let y: tf.Tensor;
  if (a.isConstant(1)) {
    const b = a.constant(1, 'B');
    if (b.shape.length !== 2) throw a.invalid(`B must be 2-D, got [${b.shape.join(', ')}]`);
    const w = a.weight('kn', () => {
      let t = hostToTensor(b);
      if (transB) t = tf.transpose(t);
      return alpha === 1 ? t : tf.mul(t, alpha);
    });
    y = tf.matMul(x, w);
  } else {
    y = tf.matMul(x, floatPlain(a, 1), false, transB);
    if (alpha !== 1) y = tf.mul(y, alpha);
  }
  if (a.present(2) && beta !== 0) {
    const c = a.isConstant(2) ? a.keep('c', () => (beta === 1 ? hostToTensor(a.host(2, 'C')) : tf.mul(hostToTensor(a.host(2, 'C')), beta))) : tf.mul(floatPlain(a, 2), beta);
    y = tf.add(y, c);
  }
  return [plain(y)];
};

/** Broadcast the batch dims of a [..., m, k] operand to `batch` (adding zeros: no Tile kernel). */
function toBatch(t: tf.Tensor, batch: number[]): tf.Tensor {
  const want = [...batch, ...t.shape.slice(-2)];
  if (want.length === t.rank && want.every((d, i) => d === t.shape[i])) return t;
  return tf.add(t, tf.zeros(want));
}

const MatMul: OpImpl = (a) => {
  a.count(2);
  let x = floatPlain(a, 0);
  const xRank1 = x.rank === 1;
  if (xRank1) x = tf.reshape(x, [1, x.shape[0]]);
  if (a.isConstant(1) && a.host(1, 'B').shape.length === 2) {
    const [K, N] = a.host(1, 'B').shape;
    if (x.shape[x.rank - 1] !== K) throw a.invalid(`shapes [${x.shape.join(', ')}] and [${K}, ${N}] do not multiply`);
    const w = a.weight('kn', () => hostToTensor(a.host(1, 'B')));
    const lead = x.shape.slice(0, -1);
    let y = tf.matMul(x.rank === 2 ? x : tf.reshape(x, [-1, K]), w);
    if (x.rank !== 2) y = tf.reshape(y, [...lead, N]);
    return [plain(xRank1 ? tf.reshape(y, [N]) : y)];
  }
  let b = floatPlain(a, 1);
  const bRank1 = b.rank === 1;
  if (bRank1) b = tf.reshape(b, [b.shape[0], 1]);
  let y: tf.Tensor;
  if (x.rank === 2 && b.rank === 2) {
    y = tf.matMul(x, b);
  } else {
    const batch = tf.backend_util.assertAndGetBroadcastShape(x.shape.slice(0, -2), b.shape.slice(0, -2));
    const xb = toBatch(x, batch);
    const bb = toBatch(b, batch);
    const flat = batch.reduce((p, q) => p * q, 1);
    const [m, k] = xb.shape.slice(-2);
    const n = bb.shape[bb.rank - 1];
    y = tf.reshape(tf.matMul(tf.reshape(xb, [flat, m, k]), tf.reshape(bb, [flat, k, n])), [...batch, m, n]);
  }
  // numpy: a 1-D operand's added axis is removed again
  const r = y.rank;
  const s = y.shape.filter((_, i) => !(bRank1 && i === r - 1) && !(xRank1 && i === r - 2));
  return [plain(s.length === y.rank ? y : tf.reshape(y, s))];
};

export const linalgOps: Record<string, OpImpl> = { Gemm, MatMul };
