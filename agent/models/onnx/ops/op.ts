/**
 * The contract between the graph interpreter (../program.ts) and the op implementations.
 *
 * An op implementation is one function run on every execution of its node: at load time on
 * constants (folding), on probe batches (which is where weights are transposed once, into the
 * per-node cache, and where every attribute is checked), and then on every forward. Its inputs are
 * Operands: host values (constants, or small values computed from shapes) or held tfjs tensors.
 *
 * Attributes are read through AttrReader, which remembers what was read: an attribute that no code
 * path of the op read is reported as unsupported after the node's first run, so that a new ONNX
 * attribute can never be silently ignored.
 */
import * as tf from '@tensorflow/tfjs';
import { NodeProblem, type NodeWhere } from '../errors.ts';
import { type Attr, type HostTensor, type OnnxNode } from '../ir.ts';
import { hostToTensor, plain, type Held } from '../layout.ts';

export type Operand = { kind: 'host'; value: HostTensor; constant: boolean } | { kind: 'tensor'; held: Held };

export type OpOutput = Held | HostTensor;

export interface RunInfo {
  /** the graph input's batch size in this run (null outside a classifier, e.g. in op tests) */
  batch: number | null;
  /** the batch size the graph declares for its input when it is a fixed number (see Reshape) */
  fixedBatch: number | null;
}

export class AttrReader {
  private readonly read = new Set<string>();
  constructor(
    private readonly node: OnnxNode,
  ) {}

  where(attribute?: string): NodeWhere {
    return { op: this.node.opType, node: this.node.name, attribute };
  }

  /** The node's attribute names that no code path has read so far. */
  unread(): string[] {
    return [...this.node.attrs.keys()].filter((k) => !this.read.has(k));
  }

  has(name: string): boolean {
    this.read.add(name);
    return this.node.attrs.has(name);
  }

  private get(name: string, type: Attr['type']): Attr | undefined {
    this.read.add(name);
    const a = this.node.attrs.get(name);
    if (a && a.type !== type) throw new NodeProblem(this.where(name), `expected a ${type} attribute, got ${a.type}`, false);
    return a;
  }

  int(name: string, dflt: number): number;
  int(name: string): number | undefined;
  int(name: string, dflt?: number): number | undefined {
    const a = this.get(name, 'int');
    return a ? (a.value as number) : dflt;
  }

  float(name: string, dflt: number): number;
  float(name: string): number | undefined;
  float(name: string, dflt?: number): number | undefined {
    const a = this.get(name, 'float');
    return a ? (a.value as number) : dflt;
  }

  string(name: string, dflt: string): string;
  string(name: string): string | undefined;
  string(name: string, dflt?: string): string | undefined {
    const a = this.get(name, 'string');
    return a ? (a.value as string) : dflt;
  }

  ints(name: string): number[] | undefined {
    return this.get(name, 'ints')?.value as number[] | undefined;
  }

  floats(name: string): number[] | undefined {
    return this.get(name, 'floats')?.value as number[] | undefined;
  }

  tensor(name: string): HostTensor | undefined {
    return this.get(name, 'tensor')?.value as HostTensor | undefined;
  }

  /** Attributes that do not change inference (momentum, …): accepted whatever their value. */
  ignore(...names: string[]): void {
    for (const n of names) this.read.add(n);
  }

  /** Fail unless the attribute is absent or equals one of the supported values. */
  expect<T extends number | string>(name: string, value: T | undefined, supported: readonly T[]): void {
    if (value !== undefined && !supported.includes(value)) {
      throw new NodeProblem(this.where(name), `value ${JSON.stringify(value)} is not supported (supported: ${supported.map((s) => JSON.stringify(s)).join(', ')})`, true);
    }
  }
}

export class OpArgs {
  constructor(
    readonly node: OnnxNode,
    readonly attrs: AttrReader,
    readonly opset: number,
    readonly inputs: ReadonlyArray<Operand | undefined>,
    /** survives between runs of the node: weights prepared once, constants converted once */
    readonly cache: Map<string, unknown>,
    readonly info: RunInfo,
  ) {}

  get name(): string {
    return this.node.name;
  }

  /** An unsupported attribute value, op variant or dtype: rejected at load. */
  unsupported(detail: string, attribute?: string): NodeProblem {
    return new NodeProblem(this.attrs.where(attribute), detail, true);
  }

  /** A malformed node (wrong input count, shapes that do not fit). */
  invalid(detail: string, attribute?: string): NodeProblem {
    return new NodeProblem(this.attrs.where(attribute), detail, false);
  }

  count(min: number, max = min): void {
    const n = this.inputs.length;
    if (n < min || n > max) throw this.invalid(`expects ${min === max ? min : `${min}–${max}`} inputs, got ${n}`);
  }

  present(i: number): boolean {
    return this.inputs[i] !== undefined;
  }

  isHost(i: number): boolean {
    return this.inputs[i]?.kind === 'host';
  }

  isConstant(i: number): boolean {
    const o = this.inputs[i];
    return o?.kind === 'host' && o.constant;
  }

  /** A host input (a constant or a shape computation); a tensor computed from the model input is an error. */
  host(i: number, what: string): HostTensor {
    const o = this.inputs[i];
    if (!o) throw this.invalid(`input ${i} (${what}) is missing`);
    if (o.kind !== 'host') throw this.unsupported(`input ${i} (${what}) must be a constant or computed from shapes only, but it depends on the model input`);
    return o.value;
  }

  /** A host input as JS numbers (ints or floats). */
  numbers(i: number, what: string): number[] {
    return Array.from(this.host(i, what).data);
  }

  /** A constant input (known at load, not only per batch size): weights. */
  constant(i: number, what: string): HostTensor {
    const v = this.host(i, what);
    if (!this.isConstant(i)) throw this.unsupported(`input ${i} (${what}) must be a constant (an initializer or a Constant), but it depends on the batch size`);
    return v;
  }

  /** Input i as a held tensor; host inputs become plain tensors (constants converted once and kept). */
  held(i: number): Held {
    const o = this.inputs[i];
    if (!o) throw this.invalid(`input ${i} is missing`);
    if (o.kind === 'tensor') return o.held;
    if (o.constant) return plain(this.keep(`in${i}`, () => hostToTensor(o.value)));
    return plain(hostToTensor(o.value));
  }

  /** A tensor derived from constants, made once per node and kept across runs (tidy-safe). */
  keep<T extends tf.Tensor>(key: string, make: () => T): T {
    let t = this.cache.get(key) as T | undefined;
    if (!t) this.cache.set(key, (t = tf.keep(tf.tidy(make))));
    return t;
  }

  /** A non-trainable tf.Variable derived from constants: weights the engine's derived-tensor cache and packed-weight reuse recognise. */
  weight(key: string, make: () => tf.Tensor): tf.Tensor {
    let v = this.cache.get(key) as tf.Variable | undefined;
    if (!v) {
      const t = tf.tidy(make);
      v = tf.variable(t, false, `onnx${++weightSeq}/${this.node.name}/${key}`);
      t.dispose();
      this.cache.set(key, v);
    }
    return v;
  }

  /** Cached plain JS value derived from constants. */
  memo<T>(key: string, make: () => T): T {
    if (!this.cache.has(key)) this.cache.set(key, make());
    return this.cache.get(key) as T;
  }
}

let weightSeq = 0;

export type OpImpl = (a: OpArgs) => OpOutput[];
