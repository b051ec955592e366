/**
 * Execute one task: load model and data shard, run the attack batch by batch, evaluate every
 * returned input with a fresh forward, and report per-sample results plus per-batch timings,
 * query counts and the logical memory peak. Transport-agnostic: the in-process queue and the NATS
 * agent both call this.
 */
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import { selectBackend, type BackendRequest } from './engine/backend.ts';
import { MeteredModel } from './engine/metered-model.ts';
import { memoryPeak } from './engine/memory.ts';
import { checkBatchFits, probeHeap } from './engine/heap-guard.ts';
import { getAttack } from './attacks/registry.ts';
import { loadDataset } from './data/datasets.ts';
import { gather } from './data/select.ts';
import { loadTaskModel } from './models/load.ts';
import { perturbationStats } from './evaluate.ts';
import { batchRanges } from './batches.ts';
import type { BatchMetric, SampleResult, Task, TaskResult } from '../schema/wire.ts';

export interface RunTaskOptions {
  backend?: BackendRequest;
  agentId?: string;
  attempt?: number;
  /** called after each batch with the number of samples finished so far */
  onProgress?: (done: number, total: number) => void;
}

export class PermanentTaskError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentTaskError';
  }
}

/** Error types that will fail the same way on every retry (bad model file, unknown attack, bad data). */
const PERMANENT_ERRORS = new Set(['PermanentTaskError', 'BatchTooLargeError', 'ModelLoadError', 'UnknownAttackError', 'UnknownDatasetError', 'IdxFormatError', 'ZodError', 'WireFormatError']);

/** Whether retrying a task that failed with `err` is pointless (embedded runner and agents alike). */
export function isPermanentError(err: unknown): boolean {
  return err instanceof Error && PERMANENT_ERRORS.has(err.name);
}

export async function runTask(task: Task, opts: RunTaskOptions = {}): Promise<TaskResult> {
  const startedAt = new Date().toISOString();
  const backend = await selectBackend(opts.backend ?? 'auto');
  const attack = getAttack(task.attack.name);
  const options = attack.options.parse({ ...task.attack.options, steps: task.steps }) as Record<string, unknown>;
  const net = await loadTaskModel(task.model);
  const model = new MeteredModel(net);
  const ds = loadDataset(task.dataset.name, task.dataset.split);
  const [h, w, c] = ds.sampleShape;
  if (model.inputShape.join() !== ds.sampleShape.join()) {
    throw new PermanentTaskError(`model ${task.model.name} expects [${model.inputShape}] inputs, dataset ${ds.name} has [${ds.sampleShape}]`);
  }
  const d = h * w * c;
  for (const i of task.sampleIndices) {
    if (i >= ds.count) throw new PermanentTaskError(`sample index ${i} is outside ${ds.name}/${ds.split} (0..${ds.count - 1})`);
  }

  const total = task.sampleIndices.length;
  if (backend.backend === 'wasm') {
    // refuse, before any work, a batch that would not fit in wasm's 4 GiB heap (engine/heap-guard.ts)
    const est = probeHeap(net, [h, w, c], (x) => tf.dispose(model.valueAndGradUncounted(x)));
    checkBatchFits(est, Math.min(task.batchSize, total), `model ${task.model.name}`);
  }
  const samples: SampleResult[] = [];
  const batches: BatchMetric[] = [];
  for (const [batchIndex, [b, end]] of batchRanges(task).entries()) {
    const idx = task.sampleIndices.slice(b, end);
    const n = idx.length;
    const clean = gather(ds.images, d, idx);
    const labelsArr = Int32Array.from(idx, (i) => ds.labels[i]);
    const x = tf.tensor4d(clean, [n, h, w, c]);
    const y = tf.tensor1d(labelsArr, 'int32');

    model.resetCounters();
    memoryPeak.reset();
    const t0 = performance.now();
    const result = await attack.run(model, x, y, options);
    await result.adversarials.data(); // sync point: the batch's work is done
    const seconds = (performance.now() - t0) / 1000;
    const peakBytesLogical = memoryPeak.read();
    const forwards = model.forwards;
    const backwards = model.backwards;

    // the σ-zero evaluation clamps outputs that leave [0,1] before judging them; so do we
    const adv = tf.tidy(() => tf.clipByValue(result.adversarials, 0, 1));
    const advVals = (await adv.data()) as Float32Array;
    // clean and adversarial predictions in one forward (uncounted: evaluation, not the attack)
    const preds = tf.tidy(() => tf.argMax(net.apply(tf.concat([x, adv]), { training: false }) as tf.Tensor, 1));
    const both = await preds.data();
    const [cp, ap] = [both.subarray(0, n), both.subarray(n)];
    tf.dispose([x, y, preds, adv, result.adversarials]);

    for (let k = 0; k < n; k++) {
      samples.push({
        datasetIndex: idx[k],
        label: labelsArr[k],
        cleanPred: cp[k],
        advPred: ap[k],
        success: ap[k] !== labelsArr[k],
        ...perturbationStats(clean, advVals, d, k),
      });
    }
    batches.push({ batchIndex, size: n, seconds, forwards, backwards, peakBytesLogical, peakBytesDevice: null });
    opts.onProgress?.(b + n, total);
  }
  return {
    taskKey: task.key,
    attempt: opts.attempt ?? 1,
    agent: opts.agentId ?? `${os.hostname()}:${process.pid}`,
    backend: backend.backend,
    device: backend.device,
    startedAt,
    finishedAt: new Date().toISOString(),
    samples,
    batches,
  };
}
