/**
 * `sigma-sweep run`: the whole pipeline in one process. Plan → record sweep and tasks → queue the
 * tasks without a complete result → agent loop → results in the store → table from SQL.
 */
import type { Logger } from './log.ts';
import { planSweep } from './planner.ts';
import { ProgressBar } from './progress.ts';
import { InProcessQueue } from './queue.ts';
import type { SweepSpec } from './spec.ts';
import type { Store } from './store.ts';
import { runTask, isPermanentError } from '../agent/run-task.ts';
import type { BackendRequest } from '../agent/engine/backend.ts';

export interface EmbeddedRunOptions {
  backend?: BackendRequest;
  force?: boolean;
  log: Logger;
  progress?: boolean;
}

export interface EmbeddedRunReport {
  sweepId: string;
  planned: number;
  skipped: number;
  completed: number;
  failed: { key: string; error: string }[];
}

export async function runEmbedded(spec: SweepSpec, store: Store, opts: EmbeddedRunOptions): Promise<EmbeddedRunReport> {
  const { sweepId, tasks } = planSweep(spec);
  await store.upsertSweep(sweepId, spec.name, spec);
  await store.upsertTasks(tasks);
  const complete = opts.force ? new Set<string>() : await store.completeTaskKeys(tasks.map((t) => t.key));
  const todo = tasks.filter((t) => !complete.has(t.key));
  opts.log.info('sweep planned', { sweep: sweepId, tasks: tasks.length, toRun: todo.length, alreadyComplete: complete.size });

  const totalSamples = todo.reduce((a, t) => a + t.sampleIndices.length, 0);
  const bar = opts.progress === false ? null : new ProgressBar(totalSamples, 'samples');
  let samplesDone = 0;
  const queue = new InProcessQueue();
  queue.publish(todo);
  const report: EmbeddedRunReport = { sweepId, planned: tasks.length, skipped: complete.size, completed: 0, failed: [] };

  for (let d = await queue.pull(); d; d = await queue.pull()) {
    const { task } = d;
    const label = `${task.attack.label}/${task.model.name}/${task.steps}`;
    await store.markRunning(task.key, 'embedded');
    const before = samplesDone;
    try {
      const result = await runTask(task, {
        backend: opts.backend,
        agentId: 'embedded',
        attempt: d.attempt,
        onProgress: (done) => bar?.update(before + done, label),
      });
      await store.recordResult(result);
      samplesDone = before + task.sampleIndices.length;
      report.completed++;
      d.ack();
    } catch (e) {
      const err = e as Error;
      bar?.update(before);
      const permanent = isPermanentError(err);
      opts.log.error('task failed', { task: task.key, attack: task.attack.label, attempt: d.attempt, permanent, error: err.message });
      await store.markFailed(task.key, err.message);
      if (permanent) {
        report.failed.push({ key: task.key, error: err.message });
        d.ack();
      } else {
        d.nak();
        if (d.attempt >= 3) report.failed.push({ key: task.key, error: err.message });
      }
    }
  }
  bar?.finish();
  return report;
}
