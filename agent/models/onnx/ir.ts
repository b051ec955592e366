/**
 * The importer's own view of an ONNX model, independent of the protobuf classes: nodes with decoded
 * attributes, initializers as host arrays, graph inputs and outputs with their declared types.
 *
 * Host tensors use the three dtypes tfjs has: float32, int32 (every ONNX integer type; int64
 * values are clamped to the int32 range, which keeps the meaning of the INT64_MAX / INT64_MIN
 * sentinels that exporters write as "to the end" in Slice) and bool.
 */
export type HostDType = 'float32' | 'int32' | 'bool';

export interface HostTensor {
  readonly dtype: HostDType;
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array | Uint8Array;
}

export type Attr =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: HostTensor }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[] }
  | { type: 'strings'; value: string[] }
  /** graphs, sparse tensors, type protos: no supported op takes them; kept so that they are reported */
  | { type: 'other'; value: string };

export interface OnnxNode {
  readonly opType: string;
  readonly domain: string;
  /** the node's name, or `#<index> <opType>` when the exporter left it empty (messages) */
  readonly name: string;
  /** '' marks an omitted optional input or output */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: ReadonlyMap<string, Attr>;
}

export interface ValueInfo {
  readonly name: string;
  /** ONNX TensorProto.DataType number (1 = FLOAT), 0 when not declared */
  readonly elemType: number;
  /** declared dims: a number, a symbolic name (string), or null when absent; undefined shape = unknown rank */
  readonly shape?: ReadonlyArray<number | string | null>;
}

export interface OnnxGraph {
  readonly nodes: readonly OnnxNode[];
  readonly initializers: ReadonlyMap<string, HostTensor>;
  /** graph inputs that are not initializers (what the caller feeds) */
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  /** version of the default (ai.onnx) operator set */
  readonly opset: number;
  readonly irVersion: number;
  readonly producer: string;
  readonly metadata: ReadonlyMap<string, string>;
}

export const ONNX_DTYPE_NAMES: Record<number, string> = {
  0: 'UNDEFINED', 1: 'FLOAT', 2: 'UINT8', 3: 'INT8', 4: 'UINT16', 5: 'INT16', 6: 'INT32', 7: 'INT64', 8: 'STRING', 9: 'BOOL',
  10: 'FLOAT16', 11: 'DOUBLE', 12: 'UINT32', 13: 'UINT64', 14: 'COMPLEX64', 15: 'COMPLEX128', 16: 'BFLOAT16',
};

export function dtypeName(t: number): string {
  return ONNX_DTYPE_NAMES[t] ?? `dtype ${t}`;
}

/**
 * The host dtype an ONNX element type is computed in, or null when unsupported. DOUBLE is computed
 * in float32 (exporters use it in shape arithmetic; a model computing in float64 is not a target).
 */
export function hostDType(t: number): HostDType | null {
  if (t === 1 || t === 11) return 'float32';
  if (t === 9) return 'bool';
  if ([2, 3, 4, 5, 6, 7, 12, 13].includes(t)) return 'int32';
  return null;
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function hostTensor(dtype: HostDType, shape: readonly number[], data: ArrayLike<number>): HostTensor {
  const n = sizeOf(shape);
  if (data.length !== n) throw new Error(`host tensor of shape [${shape.join(', ')}] needs ${n} values, got ${data.length}`);
  const arr = dtype === 'float32' ? Float32Array.from(data) : dtype === 'int32' ? Int32Array.from(data, clampInt) : Uint8Array.from(data, (v) => (v ? 1 : 0));
  return { dtype, shape: [...shape], data: arr };
}

const INT32_MAX = 2147483647;
const INT32_MIN = -2147483648;

/** An integer from an int64 field, clamped to int32 (INT64_MAX / INT64_MIN sentinels stay extreme). */
export function clampInt(v: number): number {
  if (v > INT32_MAX) return INT32_MAX;
  if (v < INT32_MIN) return INT32_MIN;
  return Math.trunc(v);
}

export function formatDims(shape: readonly (number | string | null)[]): string {
  return `[${shape.map((d) => (d === null ? '?' : d)).join(', ')}]`;
}
