/**
 * Small helpers over onnx-proto's static protobufjs classes (onnx.proto v1.10): decode and encode a
 * ModelProto, read node attributes and tensors, and emit nodes and initializers with unique names.
 * The gradient-graph builder (grad-graph.ts) and the tfjs → ONNX writer (models/onnx-export/) both
 * write through `GraphWriter`, so every emitted node is named and typed the same way.
 */
import onnxProto from 'onnx-proto';

export const { onnx } = onnxProto;
export type ModelProto = onnxProto.onnx.ModelProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type GraphProto = onnxProto.onnx.IGraphProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;

export const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;

/** int64 fields decode as Long objects (the `long` package is installed) or numbers. */
export function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof (v as { toNumber?: unknown }).toNumber === 'function') return (v as { toNumber(): number }).toNumber();
  throw new TypeError(`not an integer: ${String(v)}`);
}

export function decodeModel(bytes: Uint8Array): ModelProto {
  return onnx.ModelProto.decode(bytes);
}

export function encodeModel(m: onnxProto.onnx.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(m).finish();
}

/** The default-domain opset a model imports (ai.onnx). */
export function defaultOpset(m: onnxProto.onnx.IModelProto): number {
  const o = (m.opsetImport ?? []).find((x) => !x.domain || x.domain === 'ai.onnx');
  return o ? num(o.version) : 1;
}

// ---- attributes --------------------------------------------------------------------------------

export function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

export function attrInt(node: NodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  return a ? num(a.i ?? 0) : dflt;
}

export function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = attr(node, name);
  return a ? (a.ints ?? []).map(num) : undefined;
}

export function attrFloat(node: NodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  return a ? (a.f ?? 0) : dflt;
}

export function attrString(node: NodeProto, name: string, dflt: string): string {
  const a = attr(node, name);
  return a?.s ? Buffer.from(a.s).toString('utf8') : dflt;
}

export type AttrValue = number | number[] | string | { floats: number[] } | { float: number } | TensorProto;

/** An AttributeProto from a plain value: integers and integer lists, `{ float }`, `{ floats }`, strings, tensors. */
export function makeAttr(name: string, v: AttrValue): AttributeProto {
  if (typeof v === 'number') return { name, type: AT.INT, i: v };
  if (Array.isArray(v)) return { name, type: AT.INTS, ints: v };
  if (typeof v === 'string') return { name, type: AT.STRING, s: Buffer.from(v, 'utf8') };
  if ('floats' in v) return { name, type: AT.FLOATS, floats: v.floats };
  if ('float' in v) return { name, type: AT.FLOAT, f: v.float };
  return { name, type: AT.TENSOR, t: v };
}

// ---- tensors -----------------------------------------------------------------------------------

export interface HostTensor {
  dims: number[];
  dataType: number;
  /** float32 data for FLOAT, numbers for the integer types (int64 fit in a double here: shapes, indices) */
  data: Float32Array | number[];
}

/** Decode a TensorProto (raw_data or the typed repeated fields). External data is not supported. */
export function readTensor(t: TensorProto): HostTensor {
  const dims = (t.dims ?? []).map(num);
  const dataType = t.dataType ?? 0;
  const count = dims.reduce((a, b) => a * b, 1);
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) throw new Error(`tensor ${t.name}: external data is not supported`);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  if (dataType === DT.FLOAT) {
    if (raw) {
      const copy = new Uint8Array(raw); // aligned copy
      return { dims, dataType, data: new Float32Array(copy.buffer, 0, count) };
    }
    return { dims, dataType, data: Float32Array.from(t.floatData ?? []) };
  }
  if (dataType === DT.DOUBLE) {
    if (raw) return { dims, dataType: DT.FLOAT, data: Float32Array.from(new Float64Array(new Uint8Array(raw).buffer, 0, count)) };
    return { dims, dataType: DT.FLOAT, data: Float32Array.from(t.doubleData ?? []) };
  }
  if (dataType === DT.INT64) {
    if (raw) return { dims, dataType, data: Array.from(new BigInt64Array(new Uint8Array(raw).buffer, 0, count), Number) };
    return { dims, dataType, data: (t.int64Data ?? []).map(num) };
  }
  if (dataType === DT.INT32 || dataType === DT.BOOL || dataType === DT.INT8 || dataType === DT.UINT8) {
    if (raw) {
      const b = new Uint8Array(raw);
      if (dataType === DT.INT32) return { dims, dataType, data: Array.from(new Int32Array(b.buffer, 0, count)) };
      if (dataType === DT.INT8) return { dims, dataType, data: Array.from(new Int8Array(b.buffer, 0, count)) };
      return { dims, dataType, data: Array.from(b.subarray(0, count)) };
    }
    return { dims, dataType, data: (t.int32Data ?? []).map(num) };
  }
  throw new Error(`tensor ${t.name}: data type ${dataType} is not supported`);
}

export function floatTensor(name: string, dims: number[], data: ArrayLike<number>): TensorProto {
  const f = Float32Array.from(data);
  return { name, dims, dataType: DT.FLOAT, rawData: new Uint8Array(f.buffer) };
}

export function int64Tensor(name: string, dims: number[], data: ArrayLike<number>): TensorProto {
  const b = BigInt64Array.from(Array.from(data, (v) => BigInt(v)));
  return { name, dims, dataType: DT.INT64, rawData: new Uint8Array(b.buffer) };
}

/** A graph input or output: element type and shape, `null` (or a string) for a symbolic dimension. */
export function valueInfo(name: string, elemType: number, dims?: ReadonlyArray<number | string | null>): ValueInfoProto {
  const shape = dims ? { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d ?? 'batch' })) } : undefined;
  return { name, type: { tensorType: { elemType, ...(shape ? { shape } : {}) } } };
}

/** The dims of a graph input/output's declared type (null where symbolic or absent). */
export function declaredDims(v: ValueInfoProto): Array<number | null> | null {
  const shape = v.type?.tensorType?.shape;
  if (!shape) return null;
  return (shape.dim ?? []).map((d) => (d.dimValue != null && num(d.dimValue) > 0 && !d.dimParam ? num(d.dimValue) : null));
}

// ---- writing -----------------------------------------------------------------------------------

/**
 * Appends nodes and initializers to a graph under a name prefix that the source graph does not use,
 * so emitted names never collide with the model's own.
 */
export class GraphWriter {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private counter = 0;
  private readonly constCache = new Map<string, string>();

  constructor(private readonly prefix: string) {}

  fresh(hint: string): string {
    return `${this.prefix}${hint}_${this.counter++}`;
  }

  /** Emit one node; returns its output names (`outputs` fresh names unless given). */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs: number | string[] = 1): string[] {
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase())) : outputs;
    this.nodes.push({
      name: this.fresh(`n_${opType}`),
      opType,
      input: inputs,
      output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => makeAttr(k, v)),
    });
    return outs;
  }

  /** Emit one single-output node; returns its output name. */
  op1(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    return this.op(opType, inputs, attrs, 1)[0];
  }

  /** A float32 initializer (small ones are shared by value). */
  constF(data: ArrayLike<number>, dims: number[] = [data.length]): string {
    const key = data.length <= 16 ? `f:${dims.join(',')}:${Array.from(data).join(',')}` : null;
    if (key && this.constCache.has(key)) return this.constCache.get(key)!;
    const name = this.fresh('c');
    this.initializers.push(floatTensor(name, dims, data));
    if (key) this.constCache.set(key, name);
    return name;
  }

  /** A float32 scalar initializer (rank 0). */
  scalarF(v: number): string {
    return this.constF([v], []);
  }

  /** An int64 1-D initializer (shapes, axes, pads, starts/ends). */
  constI64(data: ArrayLike<number>, dims: number[] = [data.length]): string {
    const key = `i:${dims.join(',')}:${Array.from(data).join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.fresh('ci');
    this.initializers.push(int64Tensor(name, dims, data));
    this.constCache.set(key, name);
    return name;
  }
}
