/**
 * Tensor backend selection at run time.
 *
 * Preference order (design.md, "Engine"): `tensorflow` through @tensorflow/tfjs-node-gpu, then
 * @tensorflow/tfjs-node (both optional dependencies: their install step downloads libtensorflow,
 * so they exist only on agent images that allowed that script), else `wasm`, else `cpu`.
 * Whatever was chosen is returned as a BackendInfo and recorded with every result.
 */
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import { installWasmOverrides } from './overrides.ts';
import { gpuDevice } from './device-memory.ts';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export type BackendRequest = BackendName | 'auto';

export interface BackendInfo {
  /** tfjs backend name actually active */
  backend: BackendName;
  /** human-readable device, e.g. "cpu: Intel Xeon (2 cores)" or "gpu: NVIDIA A100" */
  device: string;
  /** package that provided the backend */
  provider: string;
}

export class BackendUnavailableError extends Error {
  constructor(requested: string, reason: string) {
    super(`backend '${requested}' is not available: ${reason}`);
    this.name = 'BackendUnavailableError';
  }
}

let active: BackendInfo | null = null;

function cpuDevice(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model?.trim() ?? 'unknown cpu';
  return `cpu: ${model} (${cpus.length} cores)`;
}

/** Why each tfjs-node package did not load at the last try (named in BackendUnavailableError). */
let tfjsNodeFailures: string[] = [];

async function tryTfjsNode(): Promise<BackendInfo | null> {
  // Optional dependencies: present only on images whose install step could fetch libtensorflow.
  tfjsNodeFailures = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
    } catch (e) {
      // an installed package that fails to load (e.g. "libcudart.so.11.0: cannot open shared object
      // file" on a CUDA 12 image) is named with its reason, not as "not installed"
      const err = e as NodeJS.ErrnoException;
      tfjsNodeFailures.push(`${pkg}: ${err.code === 'ERR_MODULE_NOT_FOUND' ? 'not installed' : String(err.message).split('\n')[0]}`);
      continue;
    }
    if (await tf.setBackend('tensorflow')) {
      await tf.ready();
      const gpu = pkg.endsWith('-gpu');
      // the GPU's product name from nvidia-smi ("gpu: NVIDIA A100-SXM4-80GB"; "gpu: cuda" when unknown)
      return { backend: 'tensorflow', provider: pkg, device: gpu ? await gpuDevice() : cpuDevice() };
    }
  }
  return null;
}

async function tryWasm(): Promise<BackendInfo | null> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    if (!(await tf.setBackend('wasm'))) return null;
    await tf.ready();
    installWasmOverrides();
    return { backend: 'wasm', provider: '@tensorflow/tfjs-backend-wasm', device: cpuDevice() };
  } catch {
    return null;
  }
}

async function useCpu(): Promise<BackendInfo> {
  await tf.setBackend('cpu');
  await tf.ready();
  return { backend: 'cpu', provider: '@tensorflow/tfjs', device: cpuDevice() };
}

/**
 * Select (once per process) and initialise a backend. Asking for a specific backend that cannot
 * load throws BackendUnavailableError; 'auto' falls through the preference order.
 */
export async function selectBackend(request: BackendRequest = 'auto'): Promise<BackendInfo> {
  if (active && (request === 'auto' || request === active.backend)) return active;
  let info: BackendInfo | null = null;
  if (request === 'auto') {
    info = (await tryTfjsNode()) ?? (await tryWasm()) ?? (await useCpu());
  } else if (request === 'tensorflow') {
    info = await tryTfjsNode();
    if (!info) throw new BackendUnavailableError(request, tfjsNodeFailures.join('; ') || 'the tensorflow backend did not initialise');
  } else if (request === 'wasm') {
    info = await tryWasm();
    if (!info) throw new BackendUnavailableError(request, '@tensorflow/tfjs-backend-wasm failed to initialise');
  } else {
    info = await useCpu();
  }
  // Quiet the tfjs "hi there, use tfjs-node" banner and kernel-override warnings in logs.
  tf.env().set('PROD', true);
  active = info;
  return info;
}

/** The backend this thread selected, or null before selectBackend (run-batch.ts asks whether to poll device memory). */
export function activeBackend(): BackendInfo | null {
  return active;
}

/**
 * Default number of tensor workers for this machine: one per core on CPU backends (wasm runs one
 * thread per instance); one where @tensorflow/tfjs-node-gpu is installed (one TensorFlow runtime
 * per GPU: several workers would each claim the device).
 */
export function defaultSlots(): number {
  try {
    import.meta.resolve('@tensorflow/tfjs-node-gpu');
    return 1;
  } catch {
    return os.availableParallelism();
  }
}

