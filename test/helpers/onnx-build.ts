/**
 * A small ONNX ModelProto writer for tests (and the engine bench), through onnx-proto's encoder:
 * one-node graphs for op tests, hand-written classifiers, and an exact ONNX copy of a tfjs
 * LayersModel of the ResNet kind (tfLayersToOnnx: Conv2D, BatchNormalization, ReLU, Add, pooling,
 * Flatten, Dense), so that the importer can be checked against a tfjs model and timed against it.
 */
import * as tf from '@tensorflow/tfjs';
import onnxPkg from 'onnx-proto';

const { onnx } = onnxPkg;

export type DType = 'float' | 'int64' | 'int32' | 'bool' | 'double' | 'float16' | 'uint8';
const DTYPES: Record<DType, number> = { float: 1, uint8: 2, int32: 6, int64: 7, bool: 9, float16: 10, double: 11 };

export interface TensorSpec {
  name?: string;
  dims: number[];
  data: ArrayLike<number>;
  dtype?: DType;
  /** write raw_data (little endian, as PyTorch does) instead of the typed repeated fields */
  raw?: boolean;
}

/** Attribute values: integers → INT(S), other numbers → FLOAT(S), strings → STRING; wrap to force a type. */
export type AttrValue = number | string | number[] | string[] | { float: number } | { floats: number[] } | { tensor: TensorSpec } | { ints: number[] };

export const float = (v: number) => ({ float: v });

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrValue>;
  name?: string;
  domain?: string;
}

export interface ValueSpec {
  name: string;
  /** numbers, or strings for symbolic dims; omit for an unknown shape */
  dims?: Array<number | string>;
  dtype?: DType;
}

export interface ModelSpec {
  nodes: NodeSpec[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  initializers?: Array<TensorSpec & { name: string }>;
  opset?: number;
  metadata?: Record<string, string>;
}

export function tensorProto(t: TensorSpec): onnxPkg.onnx.ITensorProto {
  const dtype = t.dtype ?? 'float';
  const p: onnxPkg.onnx.ITensorProto = { name: t.name, dims: t.dims, dataType: DTYPES[dtype] };
  const vals = Array.from(t.data);
  if (t.raw) {
    const width = { float: 4, int32: 4, int64: 8, bool: 1, double: 8, float16: 2, uint8: 1 }[dtype];
    const buf = new DataView(new ArrayBuffer(vals.length * width));
    vals.forEach((v, i) => {
      if (dtype === 'float') buf.setFloat32(i * 4, v, true);
      else if (dtype === 'double') buf.setFloat64(i * 8, v, true);
      else if (dtype === 'int64') buf.setBigInt64(i * 8, BigInt(v), true);
      else if (dtype === 'int32') buf.setInt32(i * 4, v, true);
      else if (dtype === 'float16') buf.setUint16(i * 2, v, true);
      else buf.setUint8(i, v);
    });
    p.rawData = new Uint8Array(buf.buffer);
  } else if (dtype === 'float') p.floatData = vals;
  else if (dtype === 'double') p.doubleData = vals;
  else if (dtype === 'int64') p.int64Data = vals;
  else p.int32Data = vals;
  return p;
}

function attrProto(name: string, v: AttrValue): onnxPkg.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return Number.isInteger(v) ? { name, type: T.INT, i: v } : { name, type: T.FLOAT, f: v };
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === 'string')) return { name, type: T.STRINGS, strings: (v as string[]).map((s) => new TextEncoder().encode(s)) };
    const nums = v as number[];
    return nums.every(Number.isInteger) ? { name, type: T.INTS, ints: nums } : { name, type: T.FLOATS, floats: nums };
  }
  if ('float' in v) return { name, type: T.FLOAT, f: v.float };
  if ('floats' in v) return { name, type: T.FLOATS, floats: v.floats };
  if ('ints' in v) return { name, type: T.INTS, ints: v.ints };
  return { name, type: T.TENSOR, t: tensorProto(v.tensor) };
}

function valueInfo(v: ValueSpec): onnxPkg.onnx.IValueInfoProto {
  if (v.dims === undefined && v.dtype === undefined) return { name: v.name }; // type left to inference
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: DTYPES[v.dtype ?? 'float'],
        shape: v.dims ? { dim: v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } : undefined,
      },
    },
  };
}

export function modelProto(spec: ModelSpec): onnxPkg.onnx.ModelProto {
  return onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'sigma-sweep tests',
    opsetImport: [{ domain: '', version: spec.opset ?? 17 }],
    metadataProps: Object.entries(spec.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: 'g',
      node: spec.nodes.map((n, i) => ({
        opType: n.op,
        name: n.name ?? `${n.op.toLowerCase()}_${i}`,
        domain: n.domain ?? '',
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attrProto(k, v)),
      })),
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
      initializer: (spec.initializers ?? []).map(tensorProto),
    },
  });
}

export function buildModel(spec: ModelSpec): Uint8Array {
  return onnx.ModelProto.encode(modelProto(spec)).finish();
}

/** One node, inputs `x0, x1, …` (graph inputs or initializers), outputs `y0, y1, …`. */
export function oneNode(
  op: string,
  inputs: Array<{ dims: Array<number | string>; dtype?: DType } | (TensorSpec & { init: true }) | null>,
  outputs: number,
  attrs: Record<string, AttrValue> = {},
  opset = 17,
): Uint8Array {
  const names = inputs.map((x, i) => (x === null ? '' : `x${i}`));
  const graphInputs: ValueSpec[] = [];
  const inits: Array<TensorSpec & { name: string }> = [];
  inputs.forEach((x, i) => {
    if (x === null) return;
    if ('init' in x) inits.push({ ...x, name: names[i] });
    else graphInputs.push({ name: names[i], dims: x.dims, dtype: x.dtype });
  });
  const outs = Array.from({ length: outputs }, (_, i) => `y${i}`);
  return buildModel({
    nodes: [{ op, inputs: names, outputs: outs, attrs, name: `${op}_node` }],
    inputs: graphInputs,
    outputs: outs.map((name) => ({ name })),
    initializers: inits,
    opset,
  });
}

/** Deterministic pseudo-random values (mulberry32), for weights and inputs. */
export function randomValues(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

/** 'same' padding as tfjs computes it (extra row/column at the end), as explicit ONNX pads. */
function samePads(size: number[], k: number[], s: number[]): number[] {
  const begin: number[] = [];
  const end: number[] = [];
  for (let i = 0; i < 2; i++) {
    const out = Math.ceil(size[i] / s[i]);
    const total = Math.max(0, (out - 1) * s[i] + k[i] - size[i]);
    begin.push(Math.floor(total / 2));
    end.push(total - Math.floor(total / 2));
  }
  return [...begin, ...end];
}

interface LayerLike {
  name: string;
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  getWeights(): tf.Tensor[];
  input: tf.SymbolicTensor | tf.SymbolicTensor[];
  output: tf.SymbolicTensor | tf.SymbolicTensor[];
}

/**
 * An ONNX (NCHW) copy of a functional tfjs LayersModel with NHWC image input made of Conv2D (no
 * activation), BatchNormalization, ReLU / Activation('relu'), Add, MaxPooling2D /
 * AveragePooling2D, GlobalAveragePooling2D, Flatten (after a 1×1 spatial map) and Dense. Weights
 * are written in PyTorch's layouts (OIHW convs, [out, in] Gemm with transB), with raw_data.
 */
export function tfLayersToOnnx(model: tf.LayersModel, opset = 17): Uint8Array {
  const nodes: NodeSpec[] = [];
  const inits: Array<TensorSpec & { name: string }> = [];
  const names = new Map<string, string>();
  const [, H0, W0, C0] = model.inputs[0].shape as number[];
  names.set(model.inputs[0].name, 'input');
  const shapes = new Map<string, number[]>([['input', [H0, W0]]]);
  const init = (name: string, t: tf.Tensor, perm?: number[]) => {
    const v = perm ? tf.tidy(() => tf.transpose(t, perm)) : t;
    inits.push({ name, dims: v.shape, data: v.dataSync(), raw: true });
    if (perm) v.dispose();
    return name;
  };
  for (const l of model.layers as unknown as LayerLike[]) {
    const cls = l.getClassName();
    if (cls === 'InputLayer') continue;
    const ins = (Array.isArray(l.input) ? l.input : [l.input]).map((s) => names.get(s.name)!);
    const out = (l.output as tf.SymbolicTensor).name;
    const y = `${l.name}_out`;
    names.set(out, y);
    const cfg = l.getConfig();
    const hw = shapes.get(ins[0]);
    const w = l.getWeights();
    switch (cls) {
      case 'Conv2D': {
        const k = cfg.kernelSize as number[];
        const s = cfg.strides as number[];
        if (cfg.activation !== 'linear') throw new Error(`${l.name}: fused activation`);
        const pads = cfg.padding === 'same' ? samePads(hw!, k, s) : [0, 0, 0, 0];
        const inputs = [ins[0], init(`${l.name}.weight`, w[0], [3, 2, 0, 1])];
        if (w[1]) inputs.push(init(`${l.name}.bias`, w[1]));
        nodes.push({ op: 'Conv', inputs, outputs: [y], attrs: { kernel_shape: k, strides: s, pads, dilations: [1, 1], group: 1 }, name: l.name });
        shapes.set(y, [0, 1].map((i) => (cfg.padding === 'same' ? Math.ceil(hw![i] / s[i]) : Math.floor((hw![i] - k[i]) / s[i]) + 1)));
        break;
      }
      case 'BatchNormalization': {
        const [gamma, beta, mean, variance] = w;
        nodes.push({
          op: 'BatchNormalization',
          inputs: [ins[0], init(`${l.name}.weight`, gamma), init(`${l.name}.bias`, beta), init(`${l.name}.running_mean`, mean), init(`${l.name}.running_var`, variance)],
          outputs: [y],
          attrs: { epsilon: float(cfg.epsilon as number), momentum: float(0.9) },
          name: l.name,
        });
        shapes.set(y, hw!);
        break;
      }
      case 'ReLU':
      case 'Activation':
        if (cls === 'Activation' && cfg.activation !== 'relu') throw new Error(`${l.name}: activation ${cfg.activation}`);
        nodes.push({ op: 'Relu', inputs: ins, outputs: [y], name: l.name });
        shapes.set(y, hw!);
        break;
      case 'Add':
        nodes.push({ op: 'Add', inputs: ins, outputs: [y], name: l.name });
        shapes.set(y, hw!);
        break;
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        const k = cfg.poolSize as number[];
        const s = (cfg.strides as number[] | null) ?? k;
        if (cfg.padding !== 'valid') throw new Error(`${l.name}: padding ${cfg.padding}`);
        nodes.push({ op: cls === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', inputs: ins, outputs: [y], attrs: { kernel_shape: k, strides: s }, name: l.name });
        shapes.set(y, [0, 1].map((i) => Math.floor((hw![i] - k[i]) / s[i]) + 1));
        break;
      }
      case 'GlobalAveragePooling2D':
        nodes.push({ op: 'GlobalAveragePool', inputs: ins, outputs: [`${y}_4d`], name: l.name });
        nodes.push({ op: 'Flatten', inputs: [`${y}_4d`], outputs: [y], attrs: { axis: 1 }, name: `${l.name}_flatten` });
        break;
      case 'Flatten':
        if (hw && (hw[0] !== 1 || hw[1] !== 1) && (model.inputs[0].shape[3] ?? 0) !== 1) {
          throw new Error(`${l.name}: a tfjs Flatten of an NHWC map larger than 1×1 has no NCHW equivalent`);
        }
        nodes.push({ op: 'Flatten', inputs: ins, outputs: [y], attrs: { axis: 1 }, name: l.name });
        break;
      case 'Dense': {
        if (cfg.activation !== 'linear') throw new Error(`${l.name}: fused activation`);
        const inputs = [ins[0], init(`${l.name}.weight`, w[0], [1, 0])];
        if (w[1]) inputs.push(init(`${l.name}.bias`, w[1]));
        nodes.push({ op: 'Gemm', inputs, outputs: [y], attrs: { alpha: float(1), beta: float(1), transB: 1 }, name: l.name });
        break;
      }
      default:
        throw new Error(`tfLayersToOnnx: layer class ${cls} is not supported`);
    }
  }
  const outName = names.get(model.outputs[0].name)!;
  return buildModel({
    nodes,
    inputs: [{ name: 'input', dims: ['batch', C0, H0, W0] }],
    outputs: [{ name: outName, dims: ['batch', model.outputs[0].shape[1] as number] }],
    initializers: inits,
    opset,
  });
}
