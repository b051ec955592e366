/**
 * The result store: one connection (db/connection.ts) and the tables' repositories, by concern:
 * sweeps, tasks (state machine, dead letters), results (the single-statement ingest) and reports
 * (the paper table, progress, ad-hoc SQL). Every write is an idempotent upsert on natural keys.
 */
import { openConnection, type Connection, type OpenOptions, type StoreLocation } from './connection.ts';
import { Sweeps } from './sweeps.ts';
import { Tasks } from './tasks.ts';
import { Results } from './results.ts';
import { Reports } from './reports.ts';

export type { OpenOptions, StoreLocation } from './connection.ts';
export type { SummaryRow } from './reports.ts';

export class Store {
  readonly sweeps: Sweeps;
  readonly tasks: Tasks;
  readonly results: Results;
  readonly reports: Reports;

  private constructor(private readonly conn: Connection) {
    this.sweeps = new Sweeps(conn.db);
    this.tasks = new Tasks(conn.db, conn.paramLimit);
    this.results = new Results(conn.db);
    this.reports = new Reports(conn.db);
  }

  static async open(loc: StoreLocation = {}, opts: OpenOptions = {}): Promise<Store> {
    return new Store(await openConnection(loc, opts));
  }

  get kind(): Connection['kind'] {
    return this.conn.kind;
  }

  /** where the data lives, safe to log */
  get where(): string {
    return this.conn.where;
  }

  /** embedded: pid of a previous process that died holding the data dir (its running tasks were interrupted) */
  get tookOverFrom(): number | null {
    return this.conn.tookOverFrom ?? null;
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}
