/**
 * What waits in JetStream for a sweep's orchestrator: result messages not yet ingested, and whether
 * an ingester is pulling at all (a pull consumer with no waiting pull requests has no reader).
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Names } from '../../protocol/names.ts';

export interface IngestBacklog {
  /** result messages in the stream that the ingester has not taken yet */
  pending: number;
  /** messages taken but not acknowledged yet (being written) */
  inFlight: number;
  /** whether some ingester has a pull request open right now */
  ingesterPulling: boolean;
}

/** The results consumer's backlog, or null when the streams do not exist (nothing submitted here). */
export async function ingestBacklog(nc: NatsConnection, n: Names): Promise<IngestBacklog | null> {
  try {
    const jsm = await jetstreamManager(nc);
    const ci = await jsm.consumers.info(n.results, n.ingestConsumer);
    return { pending: ci.num_pending, inFlight: ci.num_ack_pending, ingesterPulling: ci.num_waiting > 0 };
  } catch {
    return null;
  }
}

/**
 * A sweep's tasks still in the task stream: queued, being worked on, or waiting for redelivery (a
 * work-queue stream drops a message once it is acknowledged or terminated, and the orchestrator
 * deletes those that ran out of deliveries). What `launch` sizes its agents by. Null when the
 * stream does not exist (nothing submitted in this namespace).
 */
export async function sweepTaskBacklog(nc: NatsConnection, n: Names, sweepId: string): Promise<number | null> {
  const subject = n.taskSubject(sweepId);
  let si;
  try {
    si = await (await jetstreamManager(nc)).streams.info(n.tasks, { subjects_filter: subject });
  } catch (e) {
    if (/stream not found/i.test((e as Error).message)) return null;
    throw e;
  }
  return si.state.subjects?.[subject] ?? 0;
}
