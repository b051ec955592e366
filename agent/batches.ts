/** How a task is cut into attack batches: the one definition every runner uses. */
import type { Task } from '../schema/wire.ts';

/** Consecutive chunks of batchSize samples: [start, end) positions in task.sampleIndices. */
export function batchRanges(task: Pick<Task, 'sampleIndices' | 'batchSize'>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let b = 0; b < task.sampleIndices.length; b += task.batchSize) out.push([b, Math.min(b + task.batchSize, task.sampleIndices.length)]);
  return out;
}

export function batchCount(task: Pick<Task, 'sampleIndices' | 'batchSize'>): number {
  return Math.ceil(task.sampleIndices.length / task.batchSize);
}
