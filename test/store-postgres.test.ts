import { afterAll, beforeAll } from 'vitest';
import { Store } from '../orchestrator/db/store.ts';
import { storeContract } from './helpers/store-contract.ts';
import { createTempDatabase } from './helpers/pg.ts';

// the real PostgreSQL server on this machine (and in CI), in a throw-away database
let db: { url: string; drop: () => Promise<void> };
beforeAll(async () => {
  db = await createTempDatabase();
});
afterAll(async () => {
  await db?.drop();
});
storeContract(() => Store.open({ databaseUrl: db.url }));
