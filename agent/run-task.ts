/**
 * A task is its batches: `runTaskOn` hands every batch of a task to a BatchRunner (this thread,
 * or the tensor pool's worker threads), reports progress as batches finish and puts the result
 * together in batch order. Transport-agnostic: the embedded runner and the NATS agent both use it.
 */
import os from 'node:os';
import { selectBackend, type BackendRequest } from './engine/backend.ts';
import { prepareTask, runBatch, type BatchOutput, type TaskContext } from './run-batch.ts';
import { batchCount } from './batches.ts';
import type { Task, TaskResult } from '../schema/wire.ts';

export { PermanentTaskError } from './run-batch.ts';

/** Runs single batches of tasks: in this thread (InThreadRunner) or on worker threads (TensorPool). */
export interface BatchRunner {
  /** backend and device the batches run on */
  info(): Promise<{ backend: string; device: string }>;
  /** batch `batchIndex` of `task`; batches of a task whose signal is aborted are not started */
  runBatch(task: Task, batchIndex: number, signal?: AbortSignal): Promise<BatchOutput>;
}

/** How many prepared tasks a thread keeps (tasks share slots; contexts hold no tensors). */
const CONTEXTS_KEPT = 8;

/** Batches in this thread, one at a time (counters and memory peaks are per batch). */
export class InThreadRunner implements BatchRunner {
  private chain: Promise<unknown> = Promise.resolve();
  private readonly contexts = new Map<string, Promise<TaskContext>>();
  private backend: Promise<{ backend: string; device: string }> | null = null;

  constructor(private readonly request: BackendRequest = 'auto') {}

  info(): Promise<{ backend: string; device: string }> {
    this.backend ??= selectBackend(this.request).then((b) => ({ backend: b.backend, device: b.device }));
    return this.backend;
  }

  private context(task: Task, backend: string): Promise<TaskContext> {
    // the whole task is the key: keys are content hashes in sweeps, but callers may reuse one
    const key = JSON.stringify(task);
    let ctx = this.contexts.get(key);
    if (!ctx) {
      ctx = prepareTask(task, backend);
      ctx.catch(() => this.contexts.delete(key));
      this.contexts.set(key, ctx);
      if (this.contexts.size > CONTEXTS_KEPT) this.contexts.delete(this.contexts.keys().next().value!);
    }
    return ctx;
  }

  runBatch(task: Task, batchIndex: number, signal?: AbortSignal): Promise<BatchOutput> {
    const run = async () => {
      signal?.throwIfAborted();
      const { backend } = await this.info();
      return runBatch(await this.context(task, backend), batchIndex);
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => {});
    return p;
  }
}

export interface RunTaskOptions {
  agentId?: string;
  attempt?: number;
  /** called after each batch with the number of samples finished so far */
  onProgress?: (done: number, total: number) => void;
}

/** Run every batch of `task` on `runner`; the first failing batch fails the task (its other batches are not started). */
export async function runTaskOn(runner: BatchRunner, task: Task, opts: RunTaskOptions = {}): Promise<TaskResult> {
  const total = task.sampleIndices.length;
  const abort = new AbortController();
  let done = 0;
  const outputs = await Promise.all(
    Array.from({ length: batchCount(task) }, (_, i) =>
      runner.runBatch(task, i, abort.signal).then(
        (out) => {
          done += out.metric.size;
          opts.onProgress?.(done, total);
          return out;
        },
        (e: unknown) => {
          abort.abort(e);
          throw e;
        },
      ),
    ),
  );
  const { backend, device } = await runner.info();
  return {
    taskKey: task.key,
    attempt: opts.attempt ?? 1,
    agent: opts.agentId ?? `${os.hostname()}:${process.pid}`,
    // ONNX Runtime ran the model (engine/ort/engine.ts): the result records that engine as its backend
    backend: outputs.find((o) => o.engine)?.engine ?? backend,
    device,
    startedAt: outputs.map((o) => o.startedAt).sort()[0],
    finishedAt: outputs.map((o) => o.finishedAt).sort().at(-1)!,
    samples: outputs.flatMap((o) => o.samples),
    batches: outputs.map((o) => o.metric),
  };
}

const runners = new Map<string, InThreadRunner>();

/** Run a task in this thread (tests, the in-process embedded run, the tensor workers themselves). */
export function runTask(task: Task, opts: RunTaskOptions & { backend?: BackendRequest } = {}): Promise<TaskResult> {
  const request = opts.backend ?? 'auto';
  let runner = runners.get(request);
  if (!runner) runners.set(request, (runner = new InThreadRunner(request)));
  return runTaskOn(runner, task, opts);
}
