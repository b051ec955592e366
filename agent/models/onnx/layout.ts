/**
 * How the importer holds ONNX (NCHW) tensors in tfjs, which computes images in NHWC.
 *
 * Every dynamic value is a `Held`: a tfjs tensor plus a flag. `nhwc: false` means the tensor is in
 * the ONNX (logical) axis order; `nhwc: true` means a logical rank-4 [N, C, H, W] tensor stored as
 * [N, H, W, C]. Convolutions, pooling and channel-wise arithmetic work on NHWC-held values without
 * moving data; ops whose meaning depends on the memory order (Flatten, Reshape, MatMul, Gather, …)
 * first bring their input back to the logical order (toPlain), and ops with an axis (Concat, Split,
 * Slice, Pad, reductions, Softmax) map the axis instead (PHYS). A relayout whose non-unit axes keep
 * their order (C = 1, or H = W = 1) is a reshape, not a transpose.
 */
import * as tf from '@tensorflow/tfjs';
import { sizeOf, type HostTensor } from './ir.ts';

export interface Held {
  readonly t: tf.Tensor;
  readonly nhwc: boolean;
}

/** Physical position (in an NHWC-held tensor) of logical axis a of [N, C, H, W]. */
export const PHYS = [0, 3, 1, 2] as const;
/** Logical axis stored at physical position p. */
export const LOGICAL = [0, 2, 3, 1] as const;

export function plain(t: tf.Tensor): Held {
  return { t, nhwc: false };
}

export function nhwcHeld(t: tf.Tensor): Held {
  return { t, nhwc: true };
}

/** The logical (ONNX) shape of a held value. */
export function logicalShape(h: Held): number[] {
  const s = h.t.shape;
  return h.nhwc ? [s[0], s[3], s[1], s[2]] as number[] : [...s];
}

/** Transpose, or reshape when the permutation only moves unit axes (same memory order). */
export function permute(t: tf.Tensor, perm: readonly number[]): tf.Tensor {
  const shape = t.shape;
  const moved = perm.map((p) => shape[p]);
  let last = -1;
  let sameOrder = true;
  for (const p of perm) {
    if (shape[p] === 1) continue;
    if (p < last) {
      sameOrder = false;
      break;
    }
    last = p;
  }
  if (sameOrder) return moved.every((d, i) => d === shape[i]) ? t : tf.reshape(t, moved);
  return tf.transpose(t, [...perm]);
}

/** The value in logical order. */
export function toPlain(h: Held): tf.Tensor {
  return h.nhwc ? permute(h.t, [0, 3, 1, 2]) : h.t;
}

/** A logical rank-4 value as NHWC. */
export function toNhwc(h: Held): tf.Tensor4D {
  if (h.nhwc) return h.t as tf.Tensor4D;
  if (h.t.rank !== 4) throw new Error(`expected a rank-4 value, got shape [${h.t.shape.join(', ')}]`);
  return permute(h.t, [0, 2, 3, 1]) as tf.Tensor4D;
}

/**
 * A plain (logical-order) value of rank ≤ 4, broadcast-aligned to rank 4 (leading unit axes, as
 * numpy broadcasting aligns shapes on the right) and stored as NHWC: the form in which it combines
 * element-wise with an NHWC-held rank-4 value.
 */
export function broadcastableNhwc(t: tf.Tensor): tf.Tensor {
  if (t.rank > 4) throw new Error(`rank ${t.rank} does not broadcast against a rank-4 value`);
  const s = [...Array(4 - t.rank).fill(1), ...t.shape];
  return permute(t.rank === 4 ? t : tf.reshape(t, s), [0, 2, 3, 1]);
}

export function hostToTensor(h: HostTensor): tf.Tensor {
  return tf.tensor(h.data, [...h.shape], h.dtype);
}

/** Read a (small) tensor back into a host tensor, in logical order. */
export function tensorToHost(h: Held): HostTensor {
  const t = toPlain(h);
  const dtype = t.dtype === 'float32' ? 'float32' : t.dtype === 'bool' ? 'bool' : 'int32';
  const v = t.dataSync();
  const data = dtype === 'float32' ? Float32Array.from(v as Float32Array) : dtype === 'int32' ? Int32Array.from(v as Int32Array) : Uint8Array.from(v as Uint8Array);
  if (data.length !== sizeOf(t.shape)) throw new Error('tensor read-back size mismatch');
  return { dtype, shape: [...t.shape], data };
}

/** Normalise a possibly negative axis of a rank-r tensor; null when out of range. */
export function normAxis(axis: number, rank: number): number | null {
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : null;
}
