/**
 * Inside a tensor worker thread: runs tasks with runTask (one at a time) so that the agent's event
 * loop (NATS heartbeats, working(), KV) never waits on tensor work. Models stay cached across tasks.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runTask, isPermanentError } from './run-task.ts';
import type { Task } from '../schema/wire.ts';
import type { BackendRequest } from './engine/backend.ts';
import { selectBackend } from './engine/backend.ts';

export type ToWorker = { type: 'run'; task: Task; attempt: number; agentId: string };
export type FromWorker =
  | { type: 'ready'; backend: string; device: string }
  | { type: 'progress'; done: number; total: number }
  | { type: 'result'; result: unknown }
  | { type: 'error'; message: string; permanent: boolean };

const port = parentPort!;
const backend = (workerData?.backend ?? 'auto') as BackendRequest;
const info = await selectBackend(backend);
port.postMessage({ type: 'ready', backend: info.backend, device: info.device } satisfies FromWorker);

port.on('message', async (msg: ToWorker) => {
  if (msg.type !== 'run') return;
  try {
    const result = await runTask(msg.task, {
      backend,
      agentId: msg.agentId,
      attempt: msg.attempt,
      onProgress: (done, total) => port.postMessage({ type: 'progress', done, total } satisfies FromWorker),
    });
    port.postMessage({ type: 'result', result } satisfies FromWorker);
  } catch (e) {
    const err = e as Error;
    const permanent = isPermanentError(err);
    port.postMessage({ type: 'error', message: `${err.name}: ${err.message}`, permanent } satisfies FromWorker);
  }
});
