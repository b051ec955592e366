/**
 * `sigma-sweep submit`: plan, record the sweep and its tasks, and publish the tasks that have no
 * complete result and are not in flight (queued or running: a second submit during a running sweep
 * adds no work) — resume and "rerun only what failed or died" by default; `force` republishes all.
 * First publication uses the task key as message id; re-publications use `key:n` so JetStream's
 * duplicate window does not swallow a deliberate resubmission.
 */
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { planSweep } from './planner.ts';
import type { SweepSpec } from './spec.ts';
import type { Store } from './db/store.ts';
import { ensureStreams, type QueueTuning } from './nats/streams.ts';
import { type Names } from '../protocol/names.ts';
import type { Task } from '../schema/wire.ts';

export interface SubmitReport {
  sweepId: string;
  planned: number;
  published: number;
  complete: number;
  /** queued or running already (not republished: JetStream redelivers them itself) */
  inFlight: number;
}

export async function publishTasks(nc: NatsConnection, n: Names, store: Store, list: Task[], msgIdSuffix?: (t: Task) => string): Promise<number> {
  const js = jetstream(nc);
  const counts = await store.tasks.publishCounts(list.map((t) => t.key));
  await store.tasks.clearDead(list.map((t) => t.key));
  const pending = list.map((t) => {
    const n0 = counts.get(t.key) ?? 0;
    const msgID = msgIdSuffix ? `${t.key}:${msgIdSuffix(t)}` : n0 === 0 ? t.key : `${t.key}:${n0}`;
    return js.publish(n.taskSubject(t.sweepId), JSON.stringify(t), { msgID });
  });
  await Promise.all(pending);
  await store.tasks.markQueued(list.map((t) => t.key));
  return list.length;
}

export async function submitSweep(spec: SweepSpec, store: Store, nc: NatsConnection, n: Names, opts: { force?: boolean; tuning?: QueueTuning } = {}): Promise<SubmitReport> {
  const { sweepId, tasks } = planSweep(spec);
  await ensureStreams(nc, n, opts.tuning);
  await store.sweeps.upsert(sweepId, spec.name, spec);
  await store.tasks.upsert(tasks);
  const keys = tasks.map((t) => t.key);
  const complete = opts.force ? new Set<string>() : await store.tasks.completeKeys(keys);
  const inFlight = opts.force ? new Set<string>() : await store.tasks.inFlightKeys(keys.filter((k) => !complete.has(k)));
  const todo = tasks.filter((t) => !complete.has(t.key) && !inFlight.has(t.key));
  const published = todo.length ? await publishTasks(nc, n, store, todo) : 0;
  return { sweepId, planned: tasks.length, published, complete: complete.size, inFlight: inFlight.size };
}
