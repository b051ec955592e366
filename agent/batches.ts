/** How a task is cut into attack batches; the one definition runTask and the tensor pool share. */
import type { Task } from '../schema/wire.ts';

/** Consecutive chunks of batchSize samples: [start, end) positions in task.sampleIndices. */
export function batchRanges(task: Pick<Task, 'sampleIndices' | 'batchSize'>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let b = 0; b < task.sampleIndices.length; b += task.batchSize) out.push([b, Math.min(b + task.batchSize, task.sampleIndices.length)]);
  return out;
}
