/** Reading the agents' KV registry (polled: NATS 2.9 sends no expiry events). */
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { agentRecordSchema, type AgentRecord } from '../schema/wire.ts';
import type { Names } from '../protocol/names.ts';
import { HEARTBEAT_MS } from './worker/registry.ts';

/** An agent that missed three heartbeats in a row is gone (killed, cut off), whatever the bucket's TTL says. */
export const AGENT_STALE_MS = 3 * HEARTBEAT_MS;

/** Live agents: entries updated within `staleMs` (the bucket's TTL removes the rest eventually). */
export async function liveAgents(nc: NatsConnection, n: Names, staleMs = AGENT_STALE_MS): Promise<AgentRecord[]> {
  let kv;
  try {
    kv = await new Kvm(nc).open(n.agentsKv);
  } catch {
    return [];
  }
  const out: AgentRecord[] = [];
  let keys;
  try {
    keys = await kv.keys();
  } catch {
    return []; // no agent has registered yet: the bucket does not exist
  }
  for await (const k of keys) {
    const e = await kv.get(k);
    if (!e || e.operation !== 'PUT') continue;
    try {
      const rec = agentRecordSchema.safeParse(JSON.parse(e.string()));
      if (rec.success && Date.now() - Date.parse(rec.data.updatedAt) <= staleMs) out.push(rec.data);
    } catch {
      /* not JSON: not ours */
    }
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}
