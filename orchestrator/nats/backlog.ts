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
