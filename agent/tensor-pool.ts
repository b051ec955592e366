/**
 * The tensor workers of one process (an agent's slots, or `sigma-sweep run --slots N`), as a
 * BatchRunner: every batch of every task in hand is a unit of work, and idle workers take units
 * first come, first served. So one task with many batches uses every slot, several tasks share the
 * slots, and a task never waits for a slot that has nothing to do. Results do not depend on the
 * number of slots: batch i is the same samples, size and seeds whichever worker runs it
 * (agent/batches.ts). A batch is never cut further: σ-zero's loss is a batch mean, PGD-ℓ0 and
 * Sparse-RS draw per batch and EAD aborts on the batch loss, so smaller pieces would change the
 * results. (A task of a single batch therefore runs on one slot.)
 */
import type { Task, TaskResult } from '../schema/wire.ts';
import { TaskFailedError, TensorWorker } from './tensor-worker.ts';
import { runTaskOn, type BatchRunner } from './run-task.ts';
import type { BatchOutput } from './run-batch.ts';

interface Unit {
  task: Task;
  batchIndex: number;
  signal?: AbortSignal;
  resolve: (o: BatchOutput) => void;
  reject: (e: Error) => void;
}

export class TensorPool implements BatchRunner {
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

  runBatch(task: Task, batchIndex: number, signal?: AbortSignal): Promise<BatchOutput> {
    return new Promise<BatchOutput>((resolve, reject) => {
      this.queue.push({ task, batchIndex, signal, resolve, reject });
      this.dispatch();
    });
  }

  /** A whole task on the pool: its batches spread over the idle workers; rejects with the first failure (TaskFailedError). */
  run(task: Task, attempt: number, agentId: string, onProgress?: (done: number, total: number) => void): Promise<TaskResult> {
    return runTaskOn(this, task, { attempt, agentId, onProgress });
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const unit = this.queue.shift()!;
      if (unit.signal?.aborted) {
        unit.reject(new TaskFailedError('another batch of the task failed', false));
        continue;
      }
      void this.execute(this.idle.shift()!, unit);
    }
  }

  private async execute(worker: TensorWorker, unit: Unit): Promise<void> {
    try {
      unit.resolve(await worker.runBatch(unit.task, unit.batchIndex));
    } catch (e) {
      unit.reject(e instanceof TaskFailedError ? e : new TaskFailedError((e as Error).message, false));
    } finally {
      this.idle.push(worker);
      this.dispatch();
    }
  }

  /** Stop every worker (queued batches are dropped). */
  async stop(): Promise<void> {
    for (const u of this.queue.splice(0)) u.reject(new TaskFailedError('the tensor pool stopped', false));
    await Promise.all(this.workers.map((w) => w.stop()));
  }
}
