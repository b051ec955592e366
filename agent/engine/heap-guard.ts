/**
 * The wasm heap guard. tfjs-backend-wasm's heap is one WebAssembly memory of at most 4 GiB
 * (emscripten's getHeapMax: 4 294 901 760 bytes); an allocation past it aborts the wasm instance,
 * which kills every tensor in the process. So before a task runs on wasm we estimate what one
 * attack batch needs and refuse batches that would not fit, with a message that says which batch
 * size would. (We refuse rather than cut the batch smaller: a smaller batch is a different attack
 * run for σ-zero, PGD-ℓ0, Sparse-RS and EAD, see tensor-pool.ts, and results must not silently
 * depend on the machine.)
 *
 * Estimate: the logical tensor peak (engine/memory.ts) of one forward + input gradient at batch 1
 * and at batch 2 gives a fixed part (weights, cached derived filters) and a per-sample part;
 * attacks keep a few input-sized tensors more per sample, and the heap fragments, so the
 * per-sample part is counted 1.5× and only 75 % of the heap is planned for. Probed once per model
 * and process.
 */
import * as tf from '@tensorflow/tfjs';
import { memoryPeak } from './memory.ts';
import { PermanentError } from '../../schema/errors.ts';

export const WASM_HEAP_MAX_BYTES = 4_294_901_760;
export const PLANNED_FRACTION = 0.75;
export const PER_SAMPLE_FACTOR = 1.5;

export interface HeapEstimate {
  fixedBytes: number;
  perSampleBytes: number;
}

export class BatchTooLargeError extends PermanentError {
  constructor(message: string) {
    super(message);
    this.name = 'BatchTooLargeError';
  }
}

/** Current size of the wasm heap (bytes), or null on other backends. */
export function wasmHeapBytes(): number | null {
  if (tf.getBackend() !== 'wasm') return null;
  const b = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  return b.wasm?.HEAPU8?.buffer.byteLength ?? null;
}

type GradStep = (x: tf.Tensor4D) => void;

const probes = new WeakMap<object, HeapEstimate>();

/** Logical peak of one gradient step at batch 1 and 2 → fixed + per-sample bytes. */
export function probeHeap(model: object, inputShape: [number, number, number], step: GradStep): HeapEstimate {
  const cached = probes.get(model);
  if (cached) return cached;
  const peakAt = (n: number) => {
    const x = tf.zeros([n, ...inputShape]) as tf.Tensor4D;
    memoryPeak.reset();
    step(x);
    const p = memoryPeak.read();
    x.dispose();
    return p;
  };
  peakAt(1); // warm-up: derived filters and kernel caches exist before measuring
  const p1 = peakAt(1);
  const p2 = peakAt(2);
  const perSampleBytes = Math.max(1, p2 - p1);
  const est = { fixedBytes: Math.max(0, p1 - perSampleBytes), perSampleBytes };
  probes.set(model, est);
  return est;
}

/** Largest batch the estimate allows under the planned part of the wasm heap. */
export function maxBatchFor(est: HeapEstimate, heapMax = WASM_HEAP_MAX_BYTES): number {
  return Math.max(0, Math.floor((heapMax * PLANNED_FRACTION - est.fixedBytes) / (est.perSampleBytes * PER_SAMPLE_FACTOR)));
}

/** Throws BatchTooLargeError when `batch` samples would not fit; `what` names the model in the message. */
export function checkBatchFits(est: HeapEstimate, batch: number, what: string, heapMax = WASM_HEAP_MAX_BYTES): void {
  const max = maxBatchFor(est, heapMax);
  if (batch <= max) return;
  const gib = (b: number) => (b / 2 ** 30).toFixed(1);
  const need = est.fixedBytes + batch * est.perSampleBytes * PER_SAMPLE_FACTOR;
  throw new BatchTooLargeError(
    `batchSize ${batch} on ${what} needs about ${gib(need)} GiB of wasm heap (${(est.perSampleBytes / 2 ** 20).toFixed(2)} MiB per sample at a gradient step), ` +
      `more than the ${gib(heapMax * PLANNED_FRACTION)} GiB planned of wasm's ${gib(heapMax)} GiB: use batchSize ≤ ${max}, or run on an agent with tfjs-node`,
  );
}
