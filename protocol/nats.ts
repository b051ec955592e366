/**
 * NATS connection settings from flags or the environment (NATS_URL, NATS_USER, NATS_PASSWORD,
 * NATS_TOKEN, NATS_TLS_CA, NATS_TLS_CERT, NATS_TLS_KEY). Secrets are never logged: `describe`
 * gives a printable summary.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';

export interface NatsSettings {
  servers: string;
  user?: string;
  pass?: string;
  token?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  name?: string;
}

export function natsSettingsFromEnv(over: Partial<NatsSettings> = {}, env = process.env): NatsSettings {
  const pick = <K extends keyof NatsSettings>(k: K, e: string) => (over[k] ?? env[e] ?? undefined) as NatsSettings[K];
  return {
    servers: over.servers ?? env.NATS_URL ?? 'nats://127.0.0.1:4222',
    user: pick('user', 'NATS_USER'),
    pass: pick('pass', 'NATS_PASSWORD'),
    token: pick('token', 'NATS_TOKEN'),
    tlsCa: pick('tlsCa', 'NATS_TLS_CA'),
    tlsCert: pick('tlsCert', 'NATS_TLS_CERT'),
    tlsKey: pick('tlsKey', 'NATS_TLS_KEY'),
    name: over.name,
  };
}

/** "nats://host:4222 (user alice, password ***, tls)": safe to log. */
export function describeNats(s: NatsSettings): string {
  const parts = [s.user ? `user ${s.user}, password ***` : null, s.token ? 'token ***' : null, s.tlsCa || s.tlsCert ? 'tls' : null].filter(Boolean);
  return `${s.servers.replace(/\/\/[^@/]*@/, '//***@')}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

export async function connectNats(s: NatsSettings): Promise<NatsConnection> {
  return connect({
    servers: s.servers.split(','),
    name: s.name,
    user: s.user,
    pass: s.pass,
    token: s.token,
    tls: s.tlsCa || s.tlsCert ? { caFile: s.tlsCa, certFile: s.tlsCert, keyFile: s.tlsKey } : undefined,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: false,
  });
}
