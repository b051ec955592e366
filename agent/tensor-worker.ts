/**
 * A tensor worker thread (one wasm/tfjs instance) owned by an agent slot. `runBatch` resolves with
 * the batch's output or rejects with TaskFailedError (permanent or not). If the thread dies (a crash of
 * the tensor runtime, out of memory) the run rejects as transient and the next run starts a new
 * thread: a crash becomes a nak, never a lost task.
 */
import { Worker } from 'node:worker_threads';
import type { FromWorker, ToWorker } from './worker-main.ts';
import type { BatchOutput } from './run-batch.ts';
import type { Task } from '../schema/wire.ts';
import { startDeviceMemory } from './engine/device-memory.ts';

export class TaskFailedError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'TaskFailedError';
  }
}

/** How long stop() waits for a running batch to reach its next step boundary before terminating. */
const STOP_WAIT_MS = 30_000;

export class TensorWorker {
  private worker: Worker | null = null;
  /** the batch running in the thread, if any */
  private inFlight: Promise<BatchOutput> | null = null;
  private ready: Promise<{ backend: string; device: string }> | null = null;
  backendInfo: { backend: string; device: string } | null = null;

  constructor(private readonly backend: string) {}

  private start(): Promise<{ backend: string; device: string }> {
    if (this.ready) return this.ready;
    const w = new Worker(new URL('./worker-entry.js', import.meta.url), { workerData: { backend: this.backend } });
    this.worker = w;
    this.ready = new Promise((resolve, reject) => {
      const onMsg = (m: FromWorker) => {
        if (m.type === 'ready') {
          w.off('message', onMsg);
          this.backendInfo = { backend: m.backend, device: m.device };
          resolve(this.backendInfo);
        }
      };
      w.on('message', onMsg);
      w.once('error', reject);
      w.once('exit', (code) => reject(new Error(`tensor worker exited with code ${code} before it was ready`)));
    });
    w.once('exit', () => {
      if (this.worker === w) {
        this.worker = null;
        this.ready = null;
      }
    });
    return this.ready;
  }

  async info(): Promise<{ backend: string; device: string }> {
    return this.start();
  }

  async runBatch(task: Task, batchIndex: number): Promise<BatchOutput> {
    const { device } = await this.start();
    // GPU device memory is polled from this (main) thread, whose event loop stays free while the
    // worker thread is busy with tensor work (engine/device-memory.ts)
    const sampler = startDeviceMemory(device);
    try {
      const output = await this.post(task, batchIndex);
      if (sampler) output.metric.peakBytesDevice = await sampler.stop();
      return output;
    } finally {
      void sampler?.stop(); // a failed batch leaves no polling behind (stop() twice is harmless)
    }
  }

  private post(task: Task, batchIndex: number): Promise<BatchOutput> {
    const p = this.postNow(task, batchIndex);
    this.inFlight = p;
    const clear = () => {
      if (this.inFlight === p) this.inFlight = null;
    };
    p.then(clear, clear);
    return p;
  }

  private postNow(task: Task, batchIndex: number): Promise<BatchOutput> {
    const w = this.worker!;
    return new Promise<BatchOutput>((resolve, reject) => {
      const cleanup = () => {
        w.off('message', onMsg);
        w.off('exit', onExit);
        w.off('error', onError);
      };
      const onMsg = (m: FromWorker) => {
        if (m.type === 'batch') (cleanup(), resolve(m.output));
        else if (m.type === 'error') (cleanup(), reject(new TaskFailedError(m.message, m.permanent)));
      };
      const onExit = (code: number) => (cleanup(), reject(new TaskFailedError(`tensor worker exited (code ${code}) during the task`, false)));
      const onError = (e: Error) => (cleanup(), reject(new TaskFailedError(`tensor worker crashed: ${e.message}`, false)));
      w.on('message', onMsg);
      w.once('exit', onExit);
      w.once('error', onError);
      w.postMessage({ type: 'batch', task, batchIndex } satisfies ToWorker);
    });
  }

  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    this.ready = null;
    if (!w) return;
    if (this.inFlight) {
      // never terminate the thread inside a step: onnxruntime-node aborts the process when its
      // run is interrupted. Ask the attack to stop at its next step and wait for its answer
      // (bounded: a step that never ends is terminated anyway)
      w.postMessage({ type: 'stop' } satisfies ToWorker);
      await Promise.race([this.inFlight.catch(() => {}), new Promise((r) => setTimeout(r, STOP_WAIT_MS).unref())]);
    }
    await w.terminate();
  }
}
