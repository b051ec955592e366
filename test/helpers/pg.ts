/** A throw-away database on the PostgreSQL server that runs on this machine and in CI. */
import pg from 'pg';
import { randomBytes } from 'node:crypto';

export const PG_ADMIN_URL = process.env.SIGMA_SWEEP_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function createTempDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `sigma_sweep_test_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}
