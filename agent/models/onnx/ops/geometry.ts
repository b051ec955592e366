/**
 * Window geometry shared by Conv, ConvTranspose and the pools: strides, dilations and the four
 * paddings [top, left, bottom, right] from ONNX's attributes (pads as [x1_begin, x2_begin, x1_end,
 * x2_end], or auto_pad), and the tfjs padding argument for them.
 */
import type * as tf from '@tensorflow/tfjs';
import type { OpArgs } from './op.ts';

export interface Geometry {
  strides: [number, number];
  dilations: [number, number];
  /** top, left, bottom, right */
  pads: [number, number, number, number];
}

function pair(a: OpArgs, name: string, dflt: number): [number, number] {
  const v = a.attrs.ints(name);
  if (v === undefined) return [dflt, dflt];
  if (v.length !== 2) throw a.unsupported(`${v.length} spatial dimensions (only 2-D windows are supported)`, name);
  if (v.some((x) => !Number.isInteger(x) || x < 1)) throw a.invalid(`values must be positive integers, got [${v.join(', ')}]`, name);
  return [v[0], v[1]];
}

/** Geometry of a window op over an input of spatial size [H, W] with kernel [kh, kw]. */
export function windowGeometry(a: OpArgs, spatial: [number, number], kernel: [number, number], withDilations: boolean): Geometry {
  const strides = pair(a, 'strides', 1);
  const dilations: [number, number] = withDilations ? pair(a, 'dilations', 1) : [1, 1];
  const autoPad = a.attrs.string('auto_pad', 'NOTSET');
  a.attrs.expect('auto_pad', autoPad, ['NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER']);
  const given = a.attrs.ints('pads');
  if (given && given.length !== 4) throw a.unsupported(`${given.length / 2} spatial dimensions (only 2-D windows are supported)`, 'pads');
  if (given && given.some((p) => !Number.isInteger(p) || p < 0)) throw a.unsupported(`negative or fractional pads [${given.join(', ')}]`, 'pads');
  let pads: [number, number, number, number] = [0, 0, 0, 0];
  if (autoPad === 'NOTSET') {
    if (given) pads = [given[0], given[1], given[2], given[3]];
  } else if (autoPad.startsWith('SAME')) {
    const begin: number[] = [];
    const end: number[] = [];
    for (let i = 0; i < 2; i++) {
      const out = Math.ceil(spatial[i] / strides[i]);
      const total = Math.max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - spatial[i]);
      const small = Math.floor(total / 2);
      begin.push(autoPad === 'SAME_UPPER' ? small : total - small);
      end.push(autoPad === 'SAME_UPPER' ? total - small : small);
    }
    pads = [begin[0], begin[1], end[0], end[1]];
  }
  return { strides, dilations, pads };
}

/** The kernel_shape attribute, checked against the weight's spatial dims when both exist. */
export function kernelShape(a: OpArgs, fromWeight?: [number, number]): [number, number] {
  const k = a.attrs.ints('kernel_shape');
  if (k === undefined) {
    if (!fromWeight) throw a.invalid('kernel_shape is required', 'kernel_shape');
    return fromWeight;
  }
  if (k.length !== 2) throw a.unsupported(`${k.length} spatial dimensions (only 2-D windows are supported)`, 'kernel_shape');
  if (fromWeight && (k[0] !== fromWeight[0] || k[1] !== fromWeight[1])) {
    throw a.invalid(`kernel_shape [${k.join(', ')}] differs from the weight's [${fromWeight.join(', ')}]`, 'kernel_shape');
  }
  return [k[0], k[1]];
}

export function explicitPadding(p: Geometry['pads']): tf.backend_util.ExplicitPadding | 'valid' {
  if (p.every((v) => v === 0)) return 'valid';
  return [[0, 0], [p[0], p[2]], [p[1], p[3]], [0, 0]];
}
