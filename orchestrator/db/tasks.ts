/**
 * The tasks table and its state machine (schema/tables.ts TASK_STATUSES): planned → queued →
 * running → done, failed (retried), dead (dead letters, until resubmitted).
 */
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core';
import { deadTasks, sampleResults, tasks, type TaskStatus } from '../../schema/tables.ts';
import { taskSchema, type DatasetRef, type Task } from '../../schema/wire.ts';
import { ATTACKS } from '../../agent/attacks/registry.ts';
import { chunkRows, KEYS_PER_STATEMENT, type Db } from './connection.ts';

/** Statuses of a published task that has not finished yet. */
const IN_FLIGHT: TaskStatus[] = ['queued', 'running'];

/** Columns written per task row by `upsert` (for the parameter-limit chunking). */
const TASK_COLUMNS = 17;

/** The dataset reference's file fields (all but name and split), or null when it has none. */
function datasetFilesOf(ref: DatasetRef): Record<string, string> | null {
  const { name: _name, split: _split, ...files } = ref;
  return Object.keys(files).length ? (files as Record<string, string>) : null;
}

export class Tasks {
  constructor(
    private readonly db: Db,
    private readonly paramLimit: number,
  ) {}

  /** Insert planned tasks; existing tasks (same key) keep their state. */
  async upsert(list: Task[]): Promise<void> {
    const rows = list.map((t) => {
      // the store records what was planned; an attack it does not know (a hand-made task) has no budget
      const budget = ATTACKS.get(t.attack.name)?.budget(t.attack.options) ?? null;
      return {
        key: t.key,
        sweepId: t.sweepId,
        dataset: t.dataset.name,
        split: t.dataset.split,
        datasetFiles: datasetFilesOf(t.dataset),
        sampleIndices: t.sampleIndices,
        model: t.model.name,
        modelSha256: t.model.sha256,
        modelPath: t.model.path ?? null,
        attackLabel: t.attack.label,
        attack: t.attack.name,
        attackOptions: t.attack.options,
        budget: budget?.value ?? null,
        budgetUnit: budget?.unit ?? null,
        steps: t.steps,
        batchSize: t.batchSize,
        seed: t.seed,
      };
    });
    for (const chunk of chunkRows(rows, TASK_COLUMNS, this.paramLimit)) await this.db.insert(tasks).values(chunk).onConflictDoNothing();
  }

  /** A planned task as it was published (the inverse of upsert), or null. */
  async get(key: string): Promise<Task | null> {
    const [r] = await this.db.select().from(tasks).where(eq(tasks.key, key));
    if (!r) return null;
    return taskSchema.parse({
      key: r.key,
      sweepId: r.sweepId,
      dataset: { name: r.dataset, split: r.split, ...(r.datasetFiles as object | null) },
      sampleIndices: r.sampleIndices,
      model: { name: r.model, sha256: r.modelSha256, ...(r.modelPath === null ? {} : { path: r.modelPath }) },
      attack: { label: r.attackLabel, name: r.attack, options: r.attackOptions },
      steps: r.steps,
      batchSize: r.batchSize,
      seed: r.seed,
    });
  }

  /** Keys among `keys` whose task is done with a result row for every planned sample. */
  async completeKeys(keys: string[]): Promise<Set<string>> {
    const done = new Set<string>();
    for (const chunk of chunkRows(keys, 1, KEYS_PER_STATEMENT)) {
      const rows = await this.db
        .select({ key: tasks.key })
        .from(tasks)
        .where(
          and(
            inArray(tasks.key, chunk),
            eq(tasks.status, 'done'),
            sql`cardinality(${tasks.sampleIndices}) = (select count(*) from ${sampleResults} r where r.task_key = ${tasks.key})`,
          ),
        );
      for (const r of rows) done.add(r.key);
    }
    return done;
  }

  /**
   * Keys among `keys` that are in flight: published and not finished ('queued' or 'running'). Their
   * message is in the TASKS stream (or their result in the RESULTS stream); JetStream redelivers
   * them if their agent dies, so publishing them again would only run them twice.
   */
  async inFlightKeys(keys: string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (const chunk of chunkRows(keys, 1, KEYS_PER_STATEMENT)) {
      const rows = await this.db
        .select({ key: tasks.key })
        .from(tasks)
        .where(and(inArray(tasks.key, chunk), inArray(tasks.status, IN_FLIGHT)));
      for (const r of rows) out.add(r.key);
    }
    return out;
  }

  /** The tasks of a sweep in flight (queued or running), with who runs them and since when. */
  async inFlight(sweepId: string): Promise<{ key: string; status: string; agent: string | null; startedAt: string | null }[]> {
    return this.db
      .select({ key: tasks.key, status: tasks.status, agent: tasks.agent, startedAt: sql<string | null>`${tasks.startedAt}::text` })
      .from(tasks)
      .where(and(eq(tasks.sweepId, sweepId), inArray(tasks.status, IN_FLIGHT)));
  }

  /** True when the task already has its complete result (first result wins over speculative copies). */
  async isComplete(key: string): Promise<boolean> {
    return (await this.completeKeys([key])).has(key);
  }

  private async setStatus(keys: string[], status: TaskStatus, more: PgUpdateSetSource<typeof tasks> = {}): Promise<void> {
    for (const chunk of chunkRows(keys, 1, KEYS_PER_STATEMENT)) await this.db.update(tasks).set({ status, ...more }).where(inArray(tasks.key, chunk));
  }

  async markRunning(key: string, agent: string): Promise<void> {
    await this.setStatus([key], 'running', { agent, startedAt: new Date(), attempts: sql`${tasks.attempts} + 1` });
  }

  async markFailed(key: string, error: string): Promise<void> {
    await this.setStatus([key], 'failed', { error, finishedAt: new Date() });
  }

  /** Published (again): message ids of re-publications differ by the publish count. */
  async markQueued(keys: string[]): Promise<void> {
    await this.setStatus(keys, 'queued', { publishes: sql`${tasks.publishes} + 1` });
  }

  async publishCounts(keys: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const chunk of chunkRows(keys, 1, KEYS_PER_STATEMENT)) {
      const rows = await this.db.select({ key: tasks.key, n: tasks.publishes }).from(tasks).where(inArray(tasks.key, chunk));
      for (const r of rows) out.set(r.key, r.n);
    }
    return out;
  }

  /** A dead letter: the task will not run again until resubmitted. */
  async recordDead(taskKey: string, sweepId: string, reason: string, deliveries: number | null): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx
        .insert(deadTasks)
        .values({ taskKey, sweepId, reason, deliveries })
        .onConflictDoUpdate({ target: deadTasks.taskKey, set: { reason, deliveries, recordedAt: new Date() } });
      await tx.update(tasks).set({ status: 'dead', error: reason, finishedAt: new Date() }).where(eq(tasks.key, taskKey));
    });
  }

  async clearDead(keys: string[]): Promise<void> {
    for (const chunk of chunkRows(keys, 1, KEYS_PER_STATEMENT)) await this.db.delete(deadTasks).where(inArray(deadTasks.taskKey, chunk));
  }

  /** The last reason an agent reported for a transient failure. */
  async recordError(taskKey: string, reason: string): Promise<void> {
    await this.db.update(tasks).set({ error: reason }).where(eq(tasks.key, taskKey));
  }

  async error(taskKey: string): Promise<string | null> {
    const [row] = await this.db.select({ error: tasks.error }).from(tasks).where(eq(tasks.key, taskKey));
    return row?.error ?? null;
  }

  /** Median seconds of the finished tasks of a sweep (straggler detection). */
  async medianSeconds(sweepId: string): Promise<number | null> {
    const [row] = await this.db
      .select({ m: sql<number | null>`percentile_cont(0.5) within group (order by ${tasks.seconds})::float8` })
      .from(tasks)
      .where(and(eq(tasks.sweepId, sweepId), eq(tasks.status, 'done'), sql`${tasks.seconds} is not null`));
    return row?.m ?? null;
  }
}
