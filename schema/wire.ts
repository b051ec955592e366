/**
 * Wire types: every message between orchestrator and agents (in-process queue today, NATS
 * JetStream in distributed mode). Validated with zod at both edges; `parseWire` turns a failure
 * into a WireFormatError naming the field.
 */
// zod 4 (shipped inside zod 3.25 as 'zod/v4') validates the hot wire path ~2× faster than zod 3;
// spec files and attack options still use zod 3 (see orchestrator/spec.ts).
import { z } from 'zod/v4';
import { PermanentError } from './errors.ts';

/** How ImageNet images become 224×224 inputs: a plain resize, or resize-256 + centre-crop-224 (agent/data/imagenet.ts). */
export const IMAGE_RESIZES = ['224', '256-crop-224'] as const;

/**
 * Which samples of which files: the dataset name and split, and where the files are when the
 * dataset needs (or the spec gave) them. Absent fields keep the reader's default, and are absent
 * from the task, so tasks without them hash as they always did.
 */
export const datasetRefSchema = z
  .object({
    name: z.string().min(1),
    split: z.enum(['train', 'test']),
    /** absolute: a folder of the dataset's files (or, for mnist, fashion-mnist, cifar10, where the defaults are not) */
    path: z.string().min(1).optional(),
    /** ImageNet: a `<file> <class index>` list (files relative to path) instead of class sub-folders */
    labels: z.string().min(1).optional(),
    /** ImageNet: the class sub-folder names in class order, one per line */
    classes: z.string().min(1).optional(),
    resize: z.enum(IMAGE_RESIZES).optional(),
  })
  .strict();
export type DatasetRef = z.infer<typeof datasetRefSchema>;

export const taskSchema = z
  .object({
    key: z.string().regex(/^[0-9a-f]{16,64}$/),
    sweepId: z.string().min(1),
    dataset: datasetRefSchema,
    sampleIndices: z.array(z.number().int().nonnegative()).min(1),
    model: z.object({ name: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/), path: z.string().optional() }).strict(),
    attack: z
      .object({
        label: z.string().min(1),
        name: z.string().min(1),
        options: z.record(z.string(), z.unknown()),
      })
      .strict(),
    steps: z.number().int().positive(),
    batchSize: z.number().int().positive(),
    seed: z.number().int().nonnegative(),
  })
  .strict();
export type Task = z.infer<typeof taskSchema>;

/** An agent's entry in the KV registry (heartbeat every few seconds). */
export const agentRecordSchema = z.object({
  id: z.string().min(1),
  host: z.string(),
  pid: z.number().int(),
  backend: z.string(),
  device: z.string(),
  slots: z.number().int().positive(),
  tasks: z.array(z.object({ key: z.string(), sweepId: z.string(), startedAt: z.string(), attempt: z.number().int() })),
  updatedAt: z.string(),
});
export type AgentRecord = z.infer<typeof agentRecordSchema>;

export const sampleResultSchema = z
  .object({
    datasetIndex: z.number().int().nonnegative(),
    label: z.number().int(),
    cleanPred: z.number().int(),
    advPred: z.number().int(),
    success: z.boolean(),
    l0: z.number().int().nonnegative(),
    l1: z.number().nonnegative(),
    l2: z.number().nonnegative(),
    linf: z.number().nonnegative(),
    pertIndices: z.array(z.number().int().nonnegative()),
    pertValues: z.array(z.number()),
  })
  .strict()
  .refine((s) => s.pertIndices.length === s.pertValues.length && s.pertIndices.length === s.l0, {
    message: 'pertIndices, pertValues and l0 must agree',
    path: ['pertIndices'],
  });
export type SampleResult = z.infer<typeof sampleResultSchema>;

export const batchMetricSchema = z
  .object({
    batchIndex: z.number().int().nonnegative(),
    size: z.number().int().positive(),
    seconds: z.number().nonnegative(),
    forwards: z.number().int().nonnegative(),
    backwards: z.number().int().nonnegative(),
    peakBytesLogical: z.number().int().nonnegative(),
    peakBytesDevice: z.number().int().nonnegative().nullable(),
  })
  .strict();
export type BatchMetric = z.infer<typeof batchMetricSchema>;

export const taskResultSchema = z
  .object({
    kind: z.literal('result').default('result'),
    sweepId: z.string().min(1).optional(),
    taskKey: z.string().min(1),
    /** large results travel in parts (NATS max_payload); embedded runs send one */
    part: z.number().int().nonnegative().default(0),
    parts: z.number().int().positive().default(1),
    attempt: z.number().int().positive(),
    agent: z.string().min(1),
    backend: z.string().min(1),
    device: z.string().min(1),
    startedAt: z.string().datetime(),
    finishedAt: z.string().datetime(),
    samples: z.array(sampleResultSchema),
    batches: z.array(batchMetricSchema),
  })
  .strict();
export type TaskResult = z.input<typeof taskResultSchema>;

/** An agent's report that a task cannot run (permanent) or failed this time (transient). */
export const taskFailureSchema = z
  .object({
    kind: z.literal('failure'),
    sweepId: z.string().min(1),
    taskKey: z.string().min(1),
    attempt: z.number().int().positive(),
    agent: z.string().min(1),
    permanent: z.boolean(),
    reason: z.string().min(1),
  })
  .strict();
export type TaskFailure = z.infer<typeof taskFailureSchema>;

export const resultMessageSchema = z.union([taskFailureSchema, taskResultSchema]);
export type ResultMessage = z.infer<typeof resultMessageSchema>;

/** Split a result into parts of at most `maxSamples` samples; batch metrics travel with part 0. */
export function splitResult(r: TaskResult, maxSamples: number): TaskResult[] {
  const parts = Math.max(1, Math.ceil(r.samples.length / maxSamples));
  return Array.from({ length: parts }, (_, p) => ({
    ...r,
    part: p,
    parts,
    samples: r.samples.slice(p * maxSamples, (p + 1) * maxSamples),
    batches: p === 0 ? r.batches : [],
  }));
}

export class WireFormatError extends PermanentError {
  constructor(
    readonly what: string,
    readonly issues: string[],
  ) {
    super(`invalid ${what}: ${issues.join('; ')}`);
    this.name = 'WireFormatError';
  }
}

/** Field-path messages from a zod 3 or zod 4 error. */
export function formatZodIssues(err: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> }): string[] {
  return err.issues.map((i) => `${i.path.length ? i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : '(root)'}: ${i.message}`);
}

export function parseWire<T>(schema: z.ZodType<T, unknown>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new WireFormatError(what, formatZodIssues(r.error));
  return r.data;
}

/** A NATS payload (UTF-8 JSON) checked against `schema`; bad JSON or a bad shape throws WireFormatError. */
export function decodeWire<T>(schema: z.ZodType<T, unknown>, data: Uint8Array, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(data));
  } catch (e) {
    throw new WireFormatError(what, [`not JSON: ${(e as Error).message}`]);
  }
  return parseWire(schema, value, what);
}
