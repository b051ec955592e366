/**
 * Inside a tensor worker thread: runs batches with an InThreadRunner (one at a time) so that the
 * agent's event loop (NATS heartbeats, working(), KV) never waits on tensor work. Prepared tasks
 * and models stay cached across batches.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { InThreadRunner } from './run-task.ts';
import type { BatchOutput } from './run-batch.ts';
import { isPermanent } from '../schema/errors.ts';
import type { Task } from '../schema/wire.ts';
import type { BackendRequest } from './engine/backend.ts';
import { requestAttackStop } from './attacks/define.ts';

export type ToWorker = { type: 'batch'; task: Task; batchIndex: number } | { type: 'stop' };
export type FromWorker =
  | { type: 'ready'; backend: string; device: string }
  | { type: 'batch'; output: BatchOutput }
  | { type: 'error'; message: string; permanent: boolean };

const port = parentPort!;
const runner = new InThreadRunner((workerData?.backend ?? 'auto') as BackendRequest);
const info = await runner.info();
port.postMessage({ type: 'ready', backend: info.backend, device: info.device } satisfies FromWorker);

port.on('message', async (msg: ToWorker) => {
  if (msg.type === 'stop') {
    // the running batch (if any) ends at its next step with AttackStoppedError; the owner waits
    // for that answer before terminating this thread
    requestAttackStop();
    return;
  }
  try {
    const output = await runner.runBatch(msg.task, msg.batchIndex);
    port.postMessage({ type: 'batch', output } satisfies FromWorker);
  } catch (e) {
    const err = e as Error;
    port.postMessage({ type: 'error', message: `${err.name}: ${err.message}`, permanent: isPermanent(err) } satisfies FromWorker);
  }
});
