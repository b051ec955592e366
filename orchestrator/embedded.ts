/**
 * `sigma-sweep run`: the whole pipeline in one process. Plan → record sweep and tasks → queue the
 * tasks without a complete result → agent loop → results in the store → table from SQL.
 */
import type { Logger } from '../protocol/log.ts';
import { planSweep } from './planner.ts';
import { ProgressBar } from './progress.ts';
import { InProcessQueue } from './queue.ts';
import type { SweepSpec } from './spec.ts';
import type { Store } from './db/store.ts';
import { InThreadRunner, runTaskOn, type BatchRunner } from '../agent/run-task.ts';
import { TensorPool } from '../agent/tensor-pool.ts';
import { batchCount } from '../agent/batches.ts';
import { isPermanent } from '../schema/errors.ts';
import type { BackendRequest } from '../agent/engine/backend.ts';

export interface EmbeddedRunOptions {
  backend?: BackendRequest;
  force?: boolean;
  log: Logger;
  progress?: boolean;
  /**
   * Tensor workers: 1 runs everything in this thread; N > 1 starts N worker threads (one wasm or
   * tfjs instance each) that share the tasks' batches (agent/tensor-pool.ts). Results are the same.
   */
  slots?: number;
}

export interface EmbeddedRunReport {
  sweepId: string;
  planned: number;
  skipped: number;
  completed: number;
  /** tasks that failed for good: permanently, or transiently on every delivery */
  failed: { key: string; error: string; permanent: boolean }[];
}

export async function runEmbedded(spec: SweepSpec, store: Store, opts: EmbeddedRunOptions): Promise<EmbeddedRunReport> {
  const { sweepId, tasks } = planSweep(spec);
  await store.sweeps.upsert(sweepId, spec.name, spec);
  await store.tasks.upsert(tasks);
  const complete = opts.force ? new Set<string>() : await store.tasks.completeKeys(tasks.map((t) => t.key));
  const todo = tasks.filter((t) => !complete.has(t.key));
  const slots = Math.max(1, Math.min(opts.slots ?? 1, todo.reduce((a, t) => a + batchCount(t), 0)));
  opts.log.info('sweep planned', { sweep: sweepId, tasks: tasks.length, toRun: todo.length, alreadyComplete: complete.size, slots });

  const totalSamples = todo.reduce((a, t) => a + t.sampleIndices.length, 0);
  const bar = opts.progress === false ? null : new ProgressBar(totalSamples, 'samples');
  const inTask = new Map<string, number>(); // samples finished in tasks still running
  let samplesDone = 0;
  const showProgress = (label?: string) => bar?.update(samplesDone + [...inTask.values()].reduce((a, b) => a + b, 0), label);
  const queue = new InProcessQueue();
  queue.publish(todo);
  const report: EmbeddedRunReport = { sweepId, planned: tasks.length, skipped: complete.size, completed: 0, failed: [] };

  const pool = slots > 1 ? new TensorPool(slots, opts.backend ?? 'auto') : null;
  const runner: BatchRunner = pool ?? new InThreadRunner(opts.backend ?? 'auto');

  // with a pool, up to `slots` tasks are in hand at once; their batches share the workers
  const loop = async () => {
    for (let d = await queue.pull(); d; d = await queue.pull()) {
      const { task } = d;
      const label = `${task.attack.label}/${task.model.name}/${task.steps}`;
      await store.tasks.markRunning(task.key, 'embedded');
      inTask.set(task.key, 0);
      try {
        const result = await runTaskOn(runner, task, { agentId: 'embedded', attempt: d.attempt, onProgress: (done) => (inTask.set(task.key, done), showProgress(label)) });
        await store.results.record(result);
        samplesDone += task.sampleIndices.length;
        report.completed++;
        d.ack();
      } catch (e) {
        const err = e as Error;
        const permanent = isPermanent(err);
        opts.log.error('task failed', { task: task.key, attack: task.attack.label, attempt: d.attempt, permanent, error: err.message });
        await store.tasks.markFailed(task.key, err.message);
        if (permanent) {
          report.failed.push({ key: task.key, error: err.message, permanent: true });
          d.ack();
        } else {
          d.nak();
          if (d.attempt >= 3) report.failed.push({ key: task.key, error: err.message, permanent: false });
        }
      } finally {
        inTask.delete(task.key);
        showProgress();
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: slots }, loop));
  } finally {
    await pool?.stop();
  }
  bar?.finish();
  return report;
}
