/**
 * `agent --exit-when-idle`: the agents of a Kubernetes Job (work-queue pattern: no completions) and
 * of `launch --local` must end by themselves once there is nothing left to do, and only then —
 * the Job controller starts no new pod after the first one that exits 0, and completes the Job
 * once all have ended. So "idle" is strict: this agent has held no task for the whole idle
 * period AND the task stream holds no message at all. A work-queue stream keeps a message until
 * it is acknowledged or terminated (the orchestrator deletes those that ran out of deliveries), so
 * an empty stream means no task is queued, running on another agent, or waiting for redelivery;
 * while any is, this agent stays, because a vanished peer's task comes back to the queue.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Names } from '../../protocol/names.ts';
import type { Logger } from '../../protocol/log.ts';
import type { Drain } from './drain.ts';

export interface IdleState {
  /** tasks this agent holds now */
  busy: () => boolean;
  /** when this agent last received or finished a task (ms since the epoch) */
  lastActive: () => number;
}

/** Messages in the task stream: queued, in flight or waiting for redelivery, across all sweeps. */
export async function queuedOrRunning(jsm: JetStreamManager, n: Names): Promise<number> {
  const si = await jsm.streams.info(n.tasks);
  return si.state.messages;
}

/**
 * Begin the drain with reason 'idle' once the agent and the queue have been idle for `idleMs`.
 * Returns when draining begins (for any reason). Errors reading the stream are not idleness.
 */
export async function watchIdle(nc: NatsConnection, n: Names, idleMs: number, state: IdleState, drain: Drain, log: Logger): Promise<void> {
  let jsm: JetStreamManager | null = null;
  const tick = Math.max(50, Math.min(1000, idleMs / 4));
  while (!drain.active) {
    await Promise.race([sleep(tick), drain.requested()]);
    if (drain.active) return;
    if (state.busy() || Date.now() - state.lastActive() < idleMs) continue;
    let left: number;
    try {
      jsm ??= await jetstreamManager(nc);
      left = await queuedOrRunning(jsm, n);
    } catch (e) {
      log.debug('could not read the task stream; not idle', { error: (e as Error).message });
      continue;
    }
    if (left === 0) {
      log.info('the task queue has been empty for the idle period: exiting', { idleSeconds: idleMs / 1000 });
      drain.begin('idle');
      return;
    }
  }
}
