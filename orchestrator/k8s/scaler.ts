/**
 * How many agents a sweep's Job should run: one per `tasksPerAgent` tasks still in the queue
 * (queued, running or waiting for redelivery), at most `maxAgents`, and at least one until the
 * sweep is done — the last agent then leaves by itself once the queue has stayed empty
 * (`agent --exit-when-idle`), which completes the Job instead of leaving it at zero pods.
 * Scaling down removes pods the Job controller picks; they drain (finish their task, up to the
 * drain timeout) and exit 143, which the Job's podFailurePolicy ignores.
 */
export interface ScalePolicy {
  maxAgents: number;
  tasksPerAgent: number;
}

export function desiredAgents(remainingTasks: number, p: ScalePolicy): number {
  return Math.max(1, Math.min(p.maxAgents, Math.ceil(Math.max(0, remainingTasks) / p.tasksPerAgent)));
}
