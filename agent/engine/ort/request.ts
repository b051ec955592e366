/**
 * The engine request (engine.ts explains the engines), kept free of heavy imports so that CLI
 * commands can declare and pass it without loading ONNX Runtime or the protobuf package.
 *
 * It travels as the environment variable SIGMA_SWEEP_ENGINE (set by `run --engine` and
 * `agent --engine`, or by the user; tensor worker threads inherit the environment) and ONNX
 * Runtime's intra-op threads per slot as SIGMA_SWEEP_ORT_THREADS.
 */
import os from 'node:os';
import { PermanentError } from '../../../schema/errors.ts';

export const ENGINES = ['auto', 'tfjs', 'ort', 'ort-cuda'] as const;
export type EngineRequest = (typeof ENGINES)[number];
export const ENGINE_ENV = 'SIGMA_SWEEP_ENGINE';
export const ORT_THREADS_ENV = 'SIGMA_SWEEP_ORT_THREADS';

export class EngineRequestError extends PermanentError {
  constructor(message: string) {
    super(message);
    this.name = 'EngineRequestError';
  }
}

export function isEngineRequest(v: string): v is EngineRequest {
  return (ENGINES as readonly string[]).includes(v);
}

export function engineRequest(env: NodeJS.ProcessEnv = process.env): EngineRequest {
  const v = env[ENGINE_ENV] || 'auto';
  if (!isEngineRequest(v)) throw new EngineRequestError(`${ENGINE_ENV}=${v}: expected one of ${ENGINES.join(', ')}`);
  return v;
}

export function ortThreads(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env[ORT_THREADS_ENV] ?? 1);
  return Number.isInteger(v) && v >= 1 ? v : 1;
}

/**
 * Set the engine request for this process and the worker threads it starts; ONNX Runtime gets the
 * cores of one slot as intra-op threads (slots share the machine's cores).
 */
export function configureEngine(request: EngineRequest, slots: number, cores = os.availableParallelism()): void {
  process.env[ENGINE_ENV] = request;
  process.env[ORT_THREADS_ENV] = String(Math.max(1, Math.floor(cores / Math.max(1, slots))));
}
