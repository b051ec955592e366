/**
 * Agent throughput for the benches: σ-zero on the zoo SmallCNN through a TensorPool of `slots`
 * tensor workers on one engine, in samples·steps per second, after a warm-up task that makes every
 * worker load the model. bench:engine and bench:sigma-zero both print 1 slot against every core.
 */
import { configureEngine, type EngineRequest } from '../agent/engine/ort/request.ts';
import { zooModel } from '../agent/models/zoo.ts';
import { TensorPool } from '../agent/tensor-pool.ts';
import type { Task } from '../schema/wire.ts';

export async function agentThroughput(slots: number, opts: { engine: EngineRequest; samples: number; batchSize: number; steps?: number }): Promise<number> {
  configureEngine(opts.engine, slots, slots); // one thread per slot; 'auto' would pick ONNX Runtime for the zoo SmallCNN (its ONNX twin)
  const task: Task = {
    key: 'bench'.padEnd(32, '0'),
    sweepId: 'bench',
    dataset: { name: 'mnist', split: 'test' },
    sampleIndices: Array.from({ length: opts.samples }, (_, i) => i),
    model: { name: 'mnist-smallcnn', sha256: zooModel('mnist-smallcnn')!.sha256 },
    attack: { label: 'sigma-zero', name: 'sigma-zero', options: {} },
    steps: opts.steps ?? 20,
    batchSize: opts.batchSize,
    seed: 0,
  };
  const pool = new TensorPool(slots, 'wasm');
  try {
    await pool.info();
    await pool.run({ ...task, sampleIndices: task.sampleIndices.slice(0, opts.batchSize * slots), steps: 2 }, 1, 'bench'); // every worker loads the model
    const t0 = performance.now();
    await pool.run(task, 1, 'bench');
    return (task.sampleIndices.length * task.steps) / ((performance.now() - t0) / 1000);
  } finally {
    await pool.stop();
  }
}
