/**
 * ModelProto bytes → the importer's IR (ir.ts), through onnx-proto (the protobufjs static module of
 * the official onnx.proto). Initializers and tensor attributes are read from raw_data (little
 * endian) or the typed repeated fields; tensors stored outside the file (external data) and element
 * types the engine cannot compute in are rejected here, naming the tensor.
 */
import onnxPkg from 'onnx-proto';
import { NodeProblem } from './errors.ts';
import { clampInt, dtypeName, hostDType, sizeOf, type Attr, type HostTensor, type OnnxGraph, type OnnxNode, type ValueInfo } from './ir.ts';

const { onnx } = onnxPkg;
type Long = { toNumber(): number };
type IntLike = number | Long | null | undefined;

/** int64 fields arrive as Long (protobufjs with the long package) or number. */
export function toInt(v: IntLike): number {
  if (v == null) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

/** A model that cannot be decoded at all; the loader names the file. */
export class DecodeError extends Error {}

export function decodeModelProto(bytes: Uint8Array): onnxPkg.onnx.ModelProto {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new DecodeError(`not a readable ONNX ModelProto (${(e as Error).message}; a truncated or damaged file?)`);
  }
}

function tensorProblem(name: string, detail: string): NodeProblem {
  return new NodeProblem({ op: 'initializer', node: name }, detail, true);
}

/** A TensorProto as a host tensor (int64 clamped to int32, DOUBLE to float32). */
export function decodeTensor(t: onnxPkg.onnx.ITensorProto, fallbackName = '(unnamed tensor)'): HostTensor {
  const name = t.name || fallbackName;
  const dims = (t.dims ?? []).map(toInt);
  const elemType = t.dataType ?? 0;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || (t.externalData && t.externalData.length > 0)) {
    throw tensorProblem(name, `tensor '${name}' keeps its data in an external file; re-export with the weights inside the .onnx file (save_as_external_data=False)`);
  }
  if (t.segment) throw tensorProblem(name, `tensor '${name}' is segmented, which is not supported`);
  const dtype = hostDType(elemType);
  if (!dtype) throw tensorProblem(name, `tensor '${name}' has element type ${dtypeName(elemType)}, which is not supported`);
  const n = sizeOf(dims);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  let values: ArrayLike<number>;
  if (raw) {
    // copy: raw_data is a view into the file buffer, possibly unaligned
    const buf = new Uint8Array(raw).buffer;
    const dv = new DataView(buf);
    const width = ({ 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 11: 8, 12: 4, 13: 8 } as Record<number, number>)[elemType];
    if (raw.length !== n * width) {
      throw tensorProblem(name, `tensor '${name}' has ${raw.length} bytes of data, its shape [${dims.join(', ')}] of ${dtypeName(elemType)} needs ${n * width}`);
    }
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const o = i * width;
      switch (elemType) {
        case 1: out[i] = dv.getFloat32(o, true); break;
        case 11: out[i] = dv.getFloat64(o, true); break;
        case 2: case 9: out[i] = dv.getUint8(o); break;
        case 3: out[i] = dv.getInt8(o); break;
        case 4: out[i] = dv.getUint16(o, true); break;
        case 5: out[i] = dv.getInt16(o, true); break;
        case 6: out[i] = dv.getInt32(o, true); break;
        case 12: out[i] = dv.getUint32(o, true); break;
        case 7: out[i] = Number(dv.getBigInt64(o, true)); break;
        case 13: out[i] = Number(dv.getBigUint64(o, true)); break;
      }
    }
    values = out;
  } else {
    let field: ArrayLike<IntLike> | ArrayLike<number>;
    if (elemType === 1) field = t.floatData ?? [];
    else if (elemType === 11) field = t.doubleData ?? [];
    else if (elemType === 7) field = t.int64Data ?? [];
    else if (elemType === 12 || elemType === 13) field = t.uint64Data ?? [];
    else field = t.int32Data ?? [];
    if (field.length !== n) {
      throw tensorProblem(name, `tensor '${name}' holds ${field.length} values, its shape [${dims.join(', ')}] needs ${n}`);
    }
    values = Array.from(field as ArrayLike<IntLike>, toInt);
  }
  const data = dtype === 'float32' ? Float32Array.from(values) : dtype === 'int32' ? Int32Array.from(values, clampInt) : Uint8Array.from(values, (v) => (v ? 1 : 0));
  return { dtype, shape: dims, data };
}

const A = onnx.AttributeProto.AttributeType;

function decodeAttr(a: onnxPkg.onnx.IAttributeProto, where: string): Attr {
  const dec = new TextDecoder();
  let type = a.type ?? A.UNDEFINED;
  if (type === A.UNDEFINED) {
    // very old exporters leave `type` unset: infer it from the field that is present
    if (a.t) type = A.TENSOR;
    else if (a.s && a.s.length) type = A.STRING;
    else if (a.floats && a.floats.length) type = A.FLOATS;
    else if (a.ints && a.ints.length) type = A.INTS;
    else if (a.strings && a.strings.length) type = A.STRINGS;
    else if (a.i != null && toInt(a.i) !== 0) type = A.INT;
    else type = A.FLOAT;
  }
  switch (type) {
    case A.FLOAT: return { type: 'float', value: a.f ?? 0 };
    case A.INT: return { type: 'int', value: toInt(a.i) };
    case A.STRING: return { type: 'string', value: dec.decode(a.s ?? new Uint8Array()) };
    case A.TENSOR: return { type: 'tensor', value: decodeTensor(a.t ?? {}, `${where}.${a.name}`) };
    case A.FLOATS: return { type: 'floats', value: [...(a.floats ?? [])] };
    case A.INTS: return { type: 'ints', value: (a.ints ?? []).map(toInt) };
    case A.STRINGS: return { type: 'strings', value: (a.strings ?? []).map((s) => dec.decode(s)) };
    default: return { type: 'other', value: String(A[type] ?? type) };
  }
}

function valueInfo(v: onnxPkg.onnx.IValueInfoProto): ValueInfo {
  const tt = v.type?.tensorType;
  const dims = tt?.shape?.dim;
  return {
    name: v.name ?? '',
    elemType: tt?.elemType ?? 0,
    // a dim holds dim_value or dim_param (a oneof); unset dims are unknown
    shape: tt?.shape ? (dims ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue != null && toInt(d.dimValue) > 0 ? toInt(d.dimValue) : null)) : undefined,
  };
}

/** The IR of a decoded model (constant data decoded, nothing evaluated yet). */
export function toGraph(m: onnxPkg.onnx.ModelProto): OnnxGraph {
  const g = m.graph;
  if (!g) throw new DecodeError('the model has no graph');
  let opset = 0;
  for (const o of m.opsetImport ?? []) if (!o.domain || o.domain === 'ai.onnx') opset = toInt(o.version);
  if (opset === 0) opset = 1; // ONNX: an absent default-domain import means version 1
  const initializers = new Map<string, HostTensor>();
  for (const t of g.initializer ?? []) initializers.set(t.name ?? '', decodeTensor(t));
  if (g.sparseInitializer && g.sparseInitializer.length > 0) {
    throw tensorProblem(g.sparseInitializer[0].values?.name ?? 'sparse initializer', 'sparse initializers are not supported');
  }
  const nodes: OnnxNode[] = (g.node ?? []).map((n, i) => {
    const opType = n.opType ?? '';
    const name = n.name || `#${i} ${opType}`;
    const attrs = new Map<string, Attr>();
    for (const a of n.attribute ?? []) {
      if (a.refAttrName) throw new NodeProblem({ op: opType, node: name, attribute: a.name ?? '' }, 'attribute references (functions) are not supported', true);
      attrs.set(a.name ?? '', decodeAttr(a, name));
    }
    return { opType, domain: n.domain ?? '', name, inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])], attrs };
  });
  const metadata = new Map<string, string>();
  for (const p of m.metadataProps ?? []) metadata.set(p.key ?? '', p.value ?? '');
  return {
    nodes,
    initializers,
    // IR < 4 lists initializers among the inputs too (as defaults); only the others are fed
    inputs: (g.input ?? []).filter((v) => !initializers.has(v.name ?? '')).map(valueInfo),
    outputs: (g.output ?? []).map(valueInfo),
    opset,
    irVersion: toInt(m.irVersion),
    producer: `${m.producerName ?? ''} ${m.producerVersion ?? ''}`.trim(),
    metadata,
  };
}
