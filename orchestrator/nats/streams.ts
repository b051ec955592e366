/**
 * Stream and consumer set-up (the orchestrator's side; names are in protocol/names.ts).
 * JetStream layout (design.md, "Distributed mode"), under a namespace so that several deployments
 * (or test runs) can share one server:
 * - `<NS>_TASKS`: work queue on `<ns>.tasks.<sweep>`, one durable pull consumer `agents`, explicit
 *   ack, ack_wait 60 s by default (agents call working() while a batch runs), max_deliver 5 > the
 *   3 backoff steps (the NATS 2.9 rule).
 * - `<NS>_RESULTS`: limits retention on `<ns>.results.<sweep>`, durable pull consumer `ingester`.
 * - KV bucket `<ns>_agents`: agent registry and heartbeats (entries expire after 30 s).
 * Message ids: task key for tasks (re-publications get `key:n`), `key:attempt:part` for results.
 */
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Names } from '../../protocol/names.ts';

export interface QueueTuning {
  ackWaitMs: number;
  maxDeliver: number;
  backoffMs: number[];
}

/**
 * With a backoff list the server times the first redelivery by backoff[0], not ack_wait, so the
 * list starts at ack_wait and grows: a task whose agent vanished comes back after 60 s, then 120 s…
 */
export function tuningFor(ackWaitMs: number, maxDeliver = 5): QueueTuning {
  return { ackWaitMs, maxDeliver, backoffMs: [ackWaitMs, 2 * ackWaitMs, 4 * ackWaitMs] };
}

export const DEFAULT_TUNING: QueueTuning = tuningFor(60_000);

/** JetStream durations are nanoseconds. */
const msToNs = (ms: number) => ms * 1_000_000;

export async function ensureStreams(nc: NatsConnection, n: Names, tuning: QueueTuning = DEFAULT_TUNING): Promise<JetStreamManager> {
  if (tuning.maxDeliver <= tuning.backoffMs.length) {
    throw new Error(`maxDeliver (${tuning.maxDeliver}) must exceed the number of backoff steps (${tuning.backoffMs.length}) on NATS 2.9`);
  }
  const jsm = await jetstreamManager(nc);
  const streams = [
    { name: n.tasks, subjects: [`${n.ns}.tasks.>`], retention: RetentionPolicy.Workqueue, storage: StorageType.File },
    { name: n.results, subjects: [`${n.ns}.results.>`], retention: RetentionPolicy.Limits, storage: StorageType.File, max_age: msToNs(7 * 24 * 3600_000) },
  ];
  for (const cfg of streams) {
    try {
      await jsm.streams.info(cfg.name);
    } catch {
      await jsm.streams.add(cfg);
    }
  }
  const consumers = [
    {
      stream: n.tasks,
      cfg: {
        durable_name: n.agentsConsumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: msToNs(tuning.ackWaitMs),
        max_deliver: tuning.maxDeliver,
        backoff: tuning.backoffMs.map(msToNs),
        max_ack_pending: 10_000,
      },
    },
    {
      stream: n.results,
      cfg: { durable_name: n.ingestConsumer, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: msToNs(30_000), max_deliver: -1 },
    },
  ];
  for (const { stream, cfg } of consumers) {
    let exists = true;
    try {
      await jsm.consumers.info(stream, cfg.durable_name);
    } catch {
      exists = false;
    }
    if (exists) await jsm.consumers.update(stream, cfg.durable_name, cfg);
    else await jsm.consumers.add(stream, cfg);
  }
  return jsm;
}
