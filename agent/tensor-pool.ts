/**
 * The tensor workers of one process (an agent's slots, or `sigma-sweep run --slots N`), and how a
 * task's batches are spread over them.
 *
 * A task is cut into its batches (consecutive chunks of batchSize samples, exactly as runTask would
 * cut it); every batch is a unit of work, and idle workers take units first come, first served. So
 * one task with many batches uses every slot, several tasks share the slots, and a task never waits
 * for a slot that has nothing to do. Results do not depend on the number of slots: each batch is
 * attacked as the same batch (same samples, same size, same seeds) whichever worker runs it, and
 * the per-batch metrics keep their batch index. A task's batch is never cut further: σ-zero's loss
 * is a batch mean, PGD-ℓ0 and Sparse-RS draw per batch and EAD aborts on the batch loss, so
 * smaller pieces would change the results. (A task of a single batch therefore runs on one slot.)
 */
import type { BatchMetric, SampleResult, Task, TaskResult } from '../schema/wire.ts';
import { TaskFailedError, TensorWorker } from './tensor-worker.ts';
import { batchRanges } from './batches.ts';

interface Unit {
  task: Task;
  batchIndex: number;
  attempt: number;
  agentId: string;
  run: TaskRun;
}

interface TaskRun {
  units: number;
  failed: boolean;
  parts: Array<{ batchIndex: number; result: TaskResult }>;
  samplesDone: number;
  total: number;
  onProgress?: (done: number, total: number) => void;
  finish: () => void;
  reject: (e: Error) => void;
}

/** Put the per-batch results of one task back together, in batch order. */
export function mergeBatchResults(task: Task, attempt: number, parts: Array<{ batchIndex: number; result: TaskResult }>): TaskResult {
  const sorted = [...parts].sort((a, b) => a.batchIndex - b.batchIndex);
  const samples: SampleResult[] = [];
  const batches: BatchMetric[] = [];
  for (const { batchIndex, result } of sorted) {
    samples.push(...result.samples);
    for (const m of result.batches) batches.push({ ...m, batchIndex });
  }
  const first = sorted[0].result;
  return {
    ...first,
    taskKey: task.key,
    attempt,
    startedAt: sorted.map((p) => p.result.startedAt).sort()[0],
    finishedAt: sorted.map((p) => p.result.finishedAt).sort().at(-1)!,
    samples,
    batches,
  };
}

export class TensorPool {
  private readonly workers: TensorWorker[];
  private readonly idle: TensorWorker[];
  private readonly queue: Unit[] = [];

  constructor(
    readonly slots: number,
    backend: string,
  ) {
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`slots must be a positive integer, got ${slots}`);
    this.workers = Array.from({ length: slots }, () => new TensorWorker(backend));
    this.idle = [...this.workers];
  }

  /** Start every worker and return the backend they chose (all choose the same). */
  async info(): Promise<{ backend: string; device: string }> {
    const infos = await Promise.all(this.workers.map((w) => w.info()));
    return infos[0];
  }

  /** Run a task on the pool; resolves with the whole task's result or rejects with the first failure. */
  run(task: Task, attempt: number, agentId: string, onProgress?: (done: number, total: number) => void): Promise<TaskResult> {
    return new Promise<TaskResult>((resolve, reject) => {
      const ranges = batchRanges(task);
      const run: TaskRun = {
        units: ranges.length,
        failed: false,
        parts: [],
        samplesDone: 0,
        total: task.sampleIndices.length,
        onProgress,
        finish: () => resolve(mergeBatchResults(task, attempt, run.parts)),
        reject,
      };
      ranges.forEach(([a, b], batchIndex) => {
        const sub: Task = { ...task, sampleIndices: task.sampleIndices.slice(a, b) };
        this.queue.push({ task: sub, batchIndex, attempt, agentId, run });
      });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const unit = this.queue.shift()!;
      if (unit.run.failed) continue;
      const worker = this.idle.shift()!;
      void this.execute(worker, unit);
    }
  }

  private async execute(worker: TensorWorker, unit: Unit): Promise<void> {
    const { run } = unit;
    try {
      const result = await worker.run(unit.task, unit.attempt, unit.agentId);
      if (!run.failed) {
        run.parts.push({ batchIndex: unit.batchIndex, result });
        run.samplesDone += unit.task.sampleIndices.length;
        run.onProgress?.(run.samplesDone, run.total);
        if (run.parts.length === run.units) run.finish();
      }
    } catch (e) {
      if (!run.failed) {
        run.failed = true;
        run.reject(e instanceof TaskFailedError ? e : new TaskFailedError((e as Error).message, false));
      }
    } finally {
      this.idle.push(worker);
      this.dispatch();
    }
  }

  /** Stop every worker (queued units of unfinished tasks are dropped). */
  async stop(): Promise<void> {
    this.queue.length = 0;
    await Promise.all(this.workers.map((w) => w.stop()));
  }
}
