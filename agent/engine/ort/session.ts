/**
 * ONNX Runtime sessions, run synchronously. The attack contract (attacks/types.ts) is synchronous —
 * attacks call `valueAndGrad` inside tf.tidy — while onnxruntime-node's public `InferenceSession.run`
 * returns a promise that only defers a synchronous native call to the next macrotask. We therefore
 * call the package's native binding (`onnxruntime-node/dist/binding`, the object its own session
 * handler wraps) directly. That is not a documented entry point: onnxruntime-node is pinned in
 * package.json and test/ort-session.test.ts checks the binding's shape, so an upgrade that changes
 * it fails a test instead of a sweep.
 */
import { createRequire } from 'node:module';
import os from 'node:os';

const require = createRequire(import.meta.url);

/** onnxruntime-common's Tensor, as onnxruntime-node re-exports it. */
export interface OrtTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: Float32Array | BigInt64Array | Int32Array | Uint8Array;
}
interface TensorCtor {
  new (type: 'float32', data: Float32Array, dims: readonly number[]): OrtTensor;
  new (type: 'int64', data: BigInt64Array, dims: readonly number[]): OrtTensor;
}

interface NativeSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: object): void;
  readonly inputMetadata: Array<{ name: string }>;
  readonly outputMetadata: Array<{ name: string }>;
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, OrtTensor | null>, options: object): Record<string, OrtTensor>;
  dispose(): void;
}

interface Binding {
  binding: { InferenceSession: new () => NativeSession; listSupportedBackends(): Array<{ name: string; bundled: boolean }> };
  initOrt(): void;
}

let loaded: { binding: Binding; Tensor: TensorCtor } | null = null;

function ort(): { binding: Binding; Tensor: TensorCtor } {
  if (!loaded) {
    const pkg = require('onnxruntime-node') as { Tensor: TensorCtor };
    const binding = require('onnxruntime-node/dist/binding') as Binding;
    if (typeof binding.initOrt !== 'function' || typeof binding.binding?.InferenceSession !== 'function') {
      throw new Error('onnxruntime-node: its native binding no longer exports initOrt/InferenceSession (package upgraded? agent/engine/ort/session.ts)');
    }
    binding.initOrt();
    loaded = { binding, Tensor: pkg.Tensor };
  }
  return loaded;
}

/** Execution providers the installed onnxruntime-node binary offers (e.g. cpu, cuda when its EP was installed). */
export function availableProviders(): string[] {
  return ort()
    .binding.binding.listSupportedBackends()
    .map((b) => b.name);
}

export function floatTensor(data: Float32Array, dims: readonly number[]): OrtTensor {
  return new (ort().Tensor)('float32', data, dims);
}

export function int64Tensor(data: BigInt64Array, dims: readonly number[]): OrtTensor {
  return new (ort().Tensor)('int64', data, dims);
}

export interface SessionOptions {
  /** intra-op threads (the slot's cores; 1 for benchmarks) */
  threads: number;
  /** 'cpu' (MLAS) or 'cuda' (needs the CUDA 12 EP installed, deploy/ORT-GPU.md) */
  provider: 'cpu' | 'cuda';
}

/** Runs and milliseconds spent inside ONNX Runtime in this thread (benchmarks split a step's time with it). */
export const sessionStats = { runs: 0, ms: 0 };

/** One loaded graph. `run` is synchronous; outputs are fresh typed arrays owned by the caller. */
export class OrtSession {
  private readonly native: NativeSession;
  readonly inputNames: string[];
  readonly outputNames: string[];

  constructor(modelBytes: Uint8Array, opts: SessionOptions) {
    const native = new (ort().binding.binding.InferenceSession)();
    const threads = Math.max(1, Math.min(opts.threads, os.availableParallelism()));
    native.loadModel(modelBytes.buffer as ArrayBuffer, modelBytes.byteOffset, modelBytes.byteLength, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      executionProviders: [opts.provider === 'cuda' ? { name: 'cuda' } : { name: 'cpu' }],
      enableCpuMemArena: true,
      enableMemPattern: true,
      // slots share the cores: a thread pool that spins between runs would steal them from the others
      extra: { session: { intra_op: { allow_spinning: threads > 1 ? '1' : '0' } } },
    });
    this.native = native;
    this.inputNames = native.inputMetadata.map((m) => m.name);
    this.outputNames = native.outputMetadata.map((m) => m.name);
  }

  run(feeds: Record<string, OrtTensor>, outputs: string[] = this.outputNames): Record<string, OrtTensor> {
    const fetches: Record<string, null> = {};
    for (const o of outputs) fetches[o] = null;
    const t0 = performance.now();
    const out = this.native.run(feeds, fetches, {});
    sessionStats.runs++;
    sessionStats.ms += performance.now() - t0;
    return out;
  }

  dispose(): void {
    this.native.dispose();
  }
}
