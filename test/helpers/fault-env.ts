/**
 * The set-up of the distributed fault tests: a private nats-server (so it can be stopped and
 * restarted), a throw-away PostgreSQL database with its Store, and a client connection that keeps
 * reconnecting. `closeFaultEnv` tears down whatever was opened.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Store } from '../../orchestrator/db/store.ts';
import { createTempDatabase } from './pg.ts';
import { startPrivateNats, type PrivateNats } from './nats.ts';

export interface FaultEnv {
  nats: PrivateNats;
  db: Awaited<ReturnType<typeof createTempDatabase>>;
  store: Store;
  nc: NatsConnection;
}

export async function openFaultEnv(): Promise<FaultEnv> {
  const nats = await startPrivateNats();
  const db = await createTempDatabase();
  const store = await Store.open({ databaseUrl: db.url });
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  return { nats, db, store, nc };
}

export async function closeFaultEnv(env: Partial<FaultEnv>): Promise<void> {
  await env.nc?.close();
  await env.store?.close();
  await env.nats?.stop();
  await env.db?.drop();
}
