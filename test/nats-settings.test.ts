/** Credentials come from flags or the environment and never appear in anything we log. */
import { describe, expect, it } from 'vitest';
import { describeNats, natsSettingsFromEnv } from '../protocol/nats.ts';
import { redactUrl } from '../orchestrator/db/connection.ts';
import { names } from '../protocol/names.ts';

describe('connection settings', () => {
  it('reads NATS settings from the environment, flags first', () => {
    const env = { NATS_URL: 'nats://a:4222', NATS_USER: 'alice', NATS_PASSWORD: 's3cret', NATS_TOKEN: 'tok' };
    expect(natsSettingsFromEnv({}, env)).toMatchObject({ servers: 'nats://a:4222', user: 'alice', pass: 's3cret', token: 'tok' });
    expect(natsSettingsFromEnv({ servers: 'nats://b:4222', pass: 'flag' }, env)).toMatchObject({ servers: 'nats://b:4222', pass: 'flag' });
    expect(natsSettingsFromEnv({}, {}).servers).toBe('nats://127.0.0.1:4222');
  });

  it('never prints secrets', () => {
    const text = describeNats({ servers: 'nats://bob:hunter2@h:4222', user: 'alice', pass: 's3cret', token: 'T0K3N-xyz', tlsCa: '/ca.pem' });
    for (const secret of ['s3cret', 'T0K3N-xyz', 'hunter2']) expect(text).not.toContain(secret);
    expect(text).toContain('alice');
    expect(text).toContain('tls');
    expect(redactUrl('postgres://u:pw@db:5432/x')).toBe('postgres://u:***@db:5432/x');
    expect(redactUrl('postgres://db/x')).toBe('postgres://db/x');
  });

  it('namespaces are validated and map to stream names', () => {
    expect(names('team-a').tasks).toBe('TEAM_A_TASKS');
    expect(names('team-a').taskSubject('s1')).toBe('team-a.tasks.s1');
    expect(() => names('bad ns')).toThrow(/may only hold/);
  });
});
