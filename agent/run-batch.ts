/**
 * The unit of work: one batch of one task. `prepareTask` does what a task's batches share, once per
 * thread (bind the attack's options at this edge, load the model and the dataset split, check
 * shapes, indices and, on wasm, that a batch fits in the heap); `runBatch` attacks batch i, evaluates
 * every returned input with a fresh forward and measures the batch (seconds, queries, logical
 * memory peak). Batch i is always the same samples (agent/batches.ts), whoever runs it.
 */
import * as tf from '@tensorflow/tfjs';
import { MeteredModel } from './engine/metered-model.ts';
import { memoryPeak } from './engine/memory.ts';
import { checkBatchFits, probeHeap } from './engine/heap-guard.ts';
import { getAttack } from './attacks/registry.ts';
import type { BoundAttack } from './attacks/define.ts';
import { predict } from './attacks/losses.ts';
import { loadDataset } from './data/registry.ts';
import type { ImageDataset } from './data/dataset.ts';
import { gather } from './data/select.ts';
import { loadTaskModel } from './models/load.ts';
import { perturbationStats } from './evaluate.ts';
import { batchRanges } from './batches.ts';
import { PermanentError } from '../schema/errors.ts';
import type { BatchMetric, SampleResult, Task } from '../schema/wire.ts';

export class PermanentTaskError extends PermanentError {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentTaskError';
  }
}

/** What the batches of one task share in one thread. Holds no tensors of its own. */
export interface TaskContext {
  task: Task;
  net: tf.LayersModel;
  model: MeteredModel;
  attack: BoundAttack;
  data: ImageDataset;
  ranges: Array<[number, number]>;
}

/** One batch's share of a task result. */
export interface BatchOutput {
  samples: SampleResult[];
  metric: BatchMetric;
  startedAt: string;
  finishedAt: string;
}

/** Everything a task's batches share, checked before any attack work; throws permanent errors for tasks that can never run. */
export async function prepareTask(task: Task, backend: string): Promise<TaskContext> {
  const attack = getAttack(task.attack.name).bind(task.attack.options, task.steps);
  const net = await loadTaskModel(task.model);
  const model = new MeteredModel(net);
  const data = loadDataset(task.dataset.name, task.dataset.split);
  const shape = data.sampleShape;
  if (model.inputShape.join() !== shape.join()) {
    throw new PermanentTaskError(`model ${task.model.name} expects [${model.inputShape}] inputs, dataset ${data.name} has [${shape}]`);
  }
  for (const i of task.sampleIndices) {
    if (i >= data.count) throw new PermanentTaskError(`sample index ${i} is outside ${data.name}/${data.split} (0..${data.count - 1})`);
  }
  if (backend === 'wasm') {
    // refuse, before any work, a batch that would not fit in wasm's 4 GiB heap (engine/heap-guard.ts)
    const est = probeHeap(net, shape, (x) => tf.dispose(model.valueAndGradUncounted(x)));
    checkBatchFits(est, Math.min(task.batchSize, task.sampleIndices.length), `model ${task.model.name}`);
  }
  return { task, net, model, attack, data, ranges: batchRanges(task) };
}

export async function runBatch(ctx: TaskContext, batchIndex: number): Promise<BatchOutput> {
  const { task, net, model, data } = ctx;
  const range = ctx.ranges[batchIndex];
  if (!range) throw new PermanentTaskError(`task ${task.key} has ${ctx.ranges.length} batches; there is no batch ${batchIndex}`);
  const startedAt = new Date().toISOString();
  const [h, w, c] = data.sampleShape;
  const d = h * w * c;
  const idx = task.sampleIndices.slice(range[0], range[1]);
  const n = idx.length;
  const clean = gather(data.images, d, idx);
  const labels = Int32Array.from(idx, (i) => data.labels[i]);
  const x = tf.tensor4d(clean, [n, h, w, c]);
  const y = tf.tensor1d(labels, 'int32');

  model.resetCounters();
  memoryPeak.reset();
  const t0 = performance.now();
  const result = await ctx.attack(model, x, y);
  await result.adversarials.data(); // sync point: the batch's work is done
  const seconds = (performance.now() - t0) / 1000;
  const peakBytesLogical = memoryPeak.read();
  const { forwards, backwards } = model;

  // the σ-zero evaluation clamps outputs that leave [0,1] before judging them; so do we
  const adv = tf.tidy(() => tf.clipByValue(result.adversarials, 0, 1));
  const advVals = (await adv.data()) as Float32Array;
  // clean and adversarial predictions in one forward (uncounted: evaluation, not the attack)
  const preds = tf.tidy(() => predict(net.apply(tf.concat([x, adv]), { training: false }) as tf.Tensor2D));
  const both = await preds.data();
  const [cp, ap] = [both.subarray(0, n), both.subarray(n)];
  tf.dispose([x, y, preds, adv, result.adversarials]);

  const samples: SampleResult[] = idx.map((datasetIndex, k) => ({
    datasetIndex,
    label: labels[k],
    cleanPred: cp[k],
    advPred: ap[k],
    success: ap[k] !== labels[k],
    ...perturbationStats(clean, advVals, d, k),
  }));
  const metric: BatchMetric = { batchIndex, size: n, seconds, forwards, backwards, peakBytesLogical, peakBytesDevice: null };
  return { samples, metric, startedAt, finishedAt: new Date().toISOString() };
}
