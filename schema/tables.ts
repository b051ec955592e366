/**
 * Storage schema (drizzle pg-core), shared by PGlite (embedded) and PostgreSQL (distributed).
 * Migrations in schema/migrations are generated from this file by `npm run db:generate`; the
 * reporting views live in a hand-written migration next to them (schema/migrations/*_views.sql).
 *
 * Natural keys everywhere, so every write is an idempotent upsert:
 *   sweeps(id) · tasks(key) · sample_results(task_key, dataset_index) · batch_metrics(task_key, batch_index)
 */
import { sql } from 'drizzle-orm';
import { bigint, boolean, check, doublePrecision, index, integer, jsonb, pgTable, primaryKey, real, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * A task's life: planned → queued (published) → running → done; failed (this attempt, will be
 * retried) and dead (gave up: permanent error or deliveries exhausted) until resubmitted.
 */
export const TASK_STATUSES = ['planned', 'queued', 'running', 'done', 'failed', 'dead'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Unit of a fixed attack budget (agent/attacks/define.ts). */
export const BUDGET_UNITS = ['pixel', 'feature'] as const;
export type BudgetUnitColumn = (typeof BUDGET_UNITS)[number];


export const sweeps = pgTable('sweeps', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  spec: jsonb('spec').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().default(sql`now()`),
});

export const tasks = pgTable(
  'tasks',
  {
    key: text('key').primaryKey(),
    sweepId: text('sweep_id')
      .notNull()
      .references(() => sweeps.id, { onDelete: 'cascade' }),
    dataset: text('dataset').notNull(),
    split: text('split').notNull(),
    /** where the dataset's files are and how they are read (path, labels, classes, resize), when the spec said so */
    datasetFiles: jsonb('dataset_files'),
    /** dataset indices of the samples of this task, in order */
    sampleIndices: integer('sample_indices').array().notNull(),
    model: text('model').notNull(),
    modelSha256: text('model_sha256').notNull(),
    /** the model's file or folder, for models named by path (null: a zoo model) */
    modelPath: text('model_path'),
    /** attack label as written in the spec (e.g. "sigma-zero*"), the registry name and its options */
    attackLabel: text('attack_label').notNull(),
    attack: text('attack').notNull(),
    attackOptions: jsonb('attack_options').notNull(),
    /** fixed budget of the run (PGD-ℓ0 / Sparse-RS k, σ-zero epsilonBudget) and its unit; null for minimum-norm runs */
    budget: integer('budget'),
    budgetUnit: text('budget_unit').$type<BudgetUnitColumn>(),
    steps: integer('steps').notNull(),
    batchSize: integer('batch_size').notNull(),
    seed: integer('seed').notNull(),
    status: text('status').$type<TaskStatus>().notNull().default('planned'),
    attempts: integer('attempts').notNull().default(0),
    /** how often the task was published to the queue (message ids of re-publications differ) */
    publishes: integer('publishes').notNull().default(0),
    agent: text('agent'),
    backend: text('backend'),
    device: text('device'),
    error: text('error'),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    /** Σ batch seconds of the attack (device-seconds) */
    seconds: doublePrecision('seconds'),
  },
  (t) => [
    index('tasks_sweep_idx').on(t.sweepId),
    check('tasks_status_check', sql`${t.status} in (${sql.raw(TASK_STATUSES.map((x) => `'${x}'`).join(', '))})`),
    check('tasks_budget_unit_check', sql`${t.budgetUnit} in (${sql.raw(BUDGET_UNITS.map((x) => `'${x}'`).join(', '))})`),
  ],
);

export const sampleResults = pgTable(
  'sample_results',
  {
    taskKey: text('task_key')
      .notNull()
      .references(() => tasks.key, { onDelete: 'cascade' }),
    datasetIndex: integer('dataset_index').notNull(),
    label: integer('label').notNull(),
    cleanPred: integer('clean_pred').notNull(),
    advPred: integer('adv_pred').notNull(),
    /** model(adv) ≠ label, from a fresh forward on the returned input */
    success: boolean('success').notNull(),
    /** features (one channel of one pixel) whose float32 value differs from the clean input */
    l0: integer('l0').notNull(),
    l1: doublePrecision('l1').notNull(),
    l2: doublePrecision('l2').notNull(),
    linf: doublePrecision('linf').notNull(),
    /** sparse perturbation: flat NHWC feature indices and the adversarial values there */
    pertIndices: integer('pert_indices').array().notNull(),
    pertValues: real('pert_values').array().notNull(),
  },
  (t) => [primaryKey({ columns: [t.taskKey, t.datasetIndex] })],
);

export const batchMetrics = pgTable(
  'batch_metrics',
  {
    taskKey: text('task_key')
      .notNull()
      .references(() => tasks.key, { onDelete: 'cascade' }),
    batchIndex: integer('batch_index').notNull(),
    size: integer('size').notNull(),
    seconds: doublePrecision('seconds').notNull(),
    forwards: bigint('forwards', { mode: 'number' }).notNull(),
    backwards: bigint('backwards', { mode: 'number' }).notNull(),
    peakBytesLogical: bigint('peak_bytes_logical', { mode: 'number' }).notNull(),
    peakBytesDevice: bigint('peak_bytes_device', { mode: 'number' }),
    backend: text('backend').notNull(),
    device: text('device').notNull(),
  },
  (t) => [primaryKey({ columns: [t.taskKey, t.batchIndex] })],
);

export const deadTasks = pgTable('dead_tasks', {
  taskKey: text('task_key').primaryKey(),
  sweepId: text('sweep_id').notNull(),
  reason: text('reason').notNull(),
  deliveries: integer('deliveries'),
  recordedAt: timestamp('recorded_at', { withTimezone: true }).notNull().default(sql`now()`),
});
