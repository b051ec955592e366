/**
 * The unit of work: one batch of one task. `prepareTask` does what a task's batches share, once per
 * thread (bind the attack's options at this edge, load the model and the dataset split, check
 * shapes, indices and, on wasm, that a batch fits in the heap); `runBatch` attacks batch i, evaluates
 * every returned input with a fresh forward and measures the batch (seconds, queries, logical
 * memory peak). Batch i is always the same samples (agent/batches.ts), whoever runs it.
 */
import { isMainThread } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { formatShape, MeteredModel } from './engine/metered-model.ts';
import { OrtClassifier, type CountingClassifier } from './engine/ort/classifier.ts';
import { chooseOrtEngine, engineRequest } from './engine/ort/engine.ts';
import type { Net } from './engine/net.ts';
import { memoryPeak } from './engine/memory.ts';
import { activeBackend } from './engine/backend.ts';
import { startDeviceMemory } from './engine/device-memory.ts';
import { checkBatchFits, probeHeap } from './engine/heap-guard.ts';
import { getAttack } from './attacks/registry.ts';
import { budgetCapacity, type BoundAttack } from './attacks/define.ts';
import { predict } from './attacks/losses.ts';
import { getDataset, openDataset } from './data/registry.ts';
import type { DatasetInfo, DatasetSplit } from './data/dataset.ts';
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
  net: Net;
  model: CountingClassifier;
  /** 'ort-cpu' / 'ort-cuda' when ONNX Runtime runs the model (engine/ort/engine.ts); null: the tfjs backend */
  engine: string | null;
  attack: BoundAttack;
  data: DatasetSplit;
  ranges: Array<[number, number]>;
}

/** One batch's share of a task result. */
export interface BatchOutput {
  samples: SampleResult[];
  metric: BatchMetric;
  startedAt: string;
  finishedAt: string;
  /** the engine that ran the model when it was not the tfjs backend; the task result records it as its backend */
  engine?: string;
}

/**
 * A model fits a dataset when it takes one [batch, ...sampleShape] input and gives one
 * [batch, numClasses] output; otherwise every attack would run on nonsense (5 logits for 10
 * labels is "100% success at ℓ0 0"). Throws PermanentTaskError naming the model and both shapes.
 */
export function checkModelFits(net: Net, modelName: string, ds: DatasetInfo): void {
  const inputs = net.inputShapes;
  const outputs = net.outputShapes;
  const sample = ds.sampleShape;
  const want = [null, ...sample];
  if (inputs.length !== 1 || inputs[0].length !== want.length || inputs[0].some((s, i) => i > 0 && s !== want[i])) {
    throw new PermanentTaskError(`model ${modelName} expects ${inputs.map(formatShape).join(', ')} inputs but dataset ${ds.name} has ${formatShape(want)} samples`);
  }
  if (outputs.length !== 1 || outputs[0].length !== 2 || outputs[0][1] !== ds.numClasses) {
    throw new PermanentTaskError(`model ${modelName} outputs ${outputs.map(formatShape).join(', ')} but dataset ${ds.name} has ${ds.numClasses} classes (expected [batch, ${ds.numClasses}])`);
  }
}

/** A fixed budget (k, epsilonBudget) larger than the input has in the attack's unit is a spec error that reached a task. */
function checkBudgetFits(task: Task, ds: DatasetInfo): void {
  const def = getAttack(task.attack.name);
  const budget = def.budget(task.attack.options);
  if (!budget) return;
  const capacity = budgetCapacity(budget.unit, ds.sampleShape);
  if (budget.value > capacity) {
    throw new PermanentTaskError(`attack ${task.attack.label}: ${def.budgetOption} ${budget.value} exceeds the ${capacity} ${budget.unit}s of ${ds.name}`);
  }
}

/** Everything a task's batches share, checked before any attack work; throws permanent errors for tasks that can never run. */
export async function prepareTask(task: Task, backend: string): Promise<TaskContext> {
  const attack = getAttack(task.attack.name).bind(task.attack.options, task.steps);
  const info = getDataset(task.dataset.name);
  checkBudgetFits(task, info);
  // the engine (engine/ort/engine.ts): ONNX Runtime where the model has an ONNX graph it can differentiate
  const ort = chooseOrtEngine(task.model, engineRequest(), backend);
  const net = ort ? ort.model.net : await loadTaskModel(task.model);
  checkModelFits(net, task.model.name, info);
  const model = ort ? new OrtClassifier(ort.model) : new MeteredModel(net);
  const data = await openDataset(task.dataset);
  const shape = data.sampleShape;
  for (const i of task.sampleIndices) {
    if (i >= data.count) throw new PermanentTaskError(`sample index ${i} is outside ${data.name}/${data.split} (0..${data.count - 1})`);
  }
  if (backend === 'wasm') {
    // refuse, before any work, a batch that would not fit in wasm's 4 GiB heap (engine/heap-guard.ts)
    const est = probeHeap(net, shape, (x) => tf.dispose(model.valueAndGradUncounted(x)));
    checkBatchFits(est, Math.min(task.batchSize, task.sampleIndices.length), `model ${task.model.name}`);
  }
  return { task, net, model, engine: ort?.engine ?? null, attack, data, ranges: batchRanges(task) };
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
  const clean = await data.samples(idx);
  const labels = Int32Array.from(idx, (i) => data.labels[i]);
  const x = tf.tensor4d(clean, [n, h, w, c]);
  const y = tf.tensor1d(labels, 'int32');

  model.resetCounters();
  memoryPeak.reset();
  // GPU device memory (engine/device-memory.ts), polled here when the batch runs on the main thread;
  // in a tensor worker thread the owning TensorWorker polls from the main thread instead, whose
  // event loop is free while this one is busy with tensor work
  const device = isMainThread ? startDeviceMemory(activeBackend()?.device) : null;
  const t0 = performance.now();
  let result: Awaited<ReturnType<BoundAttack>>;
  try {
    result = await ctx.attack(model, x, y);
    await result.adversarials.data(); // sync point: the batch's work is done
  } catch (e) {
    void device?.stop(); // no polling left behind by a failed batch
    throw e;
  }
  const seconds = (performance.now() - t0) / 1000;
  const peakBytesLogical = memoryPeak.read();
  const peakBytesDevice = device ? await device.stop() : null;
  const { forwards, backwards } = model;

  // the σ-zero evaluation clamps outputs that leave [0,1] before judging them; so do we
  const adv = tf.tidy(() => tf.clipByValue(result.adversarials, 0, 1));
  const advVals = (await adv.data()) as Float32Array;
  // clean and adversarial predictions in one forward (uncounted: evaluation, not the attack)
  const preds = tf.tidy(() => predict(net.apply(tf.concat([x, adv]))));
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
  const metric: BatchMetric = { batchIndex, size: n, seconds, forwards, backwards, peakBytesLogical, peakBytesDevice };
  return { samples, metric, startedAt, finishedAt: new Date().toISOString(), ...(ctx.engine ? { engine: ctx.engine } : {}) };
}
