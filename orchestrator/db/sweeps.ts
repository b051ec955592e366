/** The sweeps table: one row per planned sweep, with the spec it came from. */
import { sweeps } from '../../schema/tables.ts';
import type { Db } from './connection.ts';

export class Sweeps {
  constructor(private readonly db: Db) {}

  async upsert(id: string, name: string, spec: unknown): Promise<void> {
    await this.db.insert(sweeps).values({ id, name, spec }).onConflictDoNothing();
  }

  /** Every sweep, oldest first. */
  async list(): Promise<{ id: string; name: string; createdAt: Date }[]> {
    return this.db.select({ id: sweeps.id, name: sweeps.name, createdAt: sweeps.createdAt }).from(sweeps).orderBy(sweeps.createdAt);
  }
}
