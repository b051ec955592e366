/**
 * GPU device memory of this process and the GPU's product name, read from NVML through nvidia-smi.
 *
 * tfjs-node-gpu reports no device bytes (tf.memory() has no GPU figure on the tensorflow backend),
 * so a GPU agent asks the driver: `nvidia-smi --query-compute-apps=pid,used_memory` a few times per
 * batch (at its start, every `intervalMs` while it runs, at its end), asynchronously, and keeps the
 * highest figure. Agents poll from the main thread while a tensor worker thread computes; a batch
 * computed on the main thread itself (`run --slots 1`) gets its timer samples only when that
 * thread yields, its start and end samples always.
 *
 * What NVML reports is the memory the process holds on the device: with TensorFlow's BFC allocator
 * (and TF_FORCE_GPU_ALLOW_GROWTH=true) that is the allocator's reservation, which grows in chunks
 * and is not handed back, so the figure is the reservation of this process at its highest by the
 * end of the batch (it includes what earlier batches of the same process reserved), never the
 * allocation peak of the batch itself. It lands in
 * batch_metrics.peak_bytes_device; CPU agents leave that null and keep the logical tfjs peak.
 *
 * Containers: the NVIDIA driver knows no PID namespaces, so inside a pod NVML lists host pids and
 * this process's own pid never appears. With the default scope `auto`, when none of the listed pids
 * exists in this process's /proc (a separate PID namespace), every compute process on the GPUs this
 * container sees is counted: exact for a whole GPU per agent pod, an over-count when the GPU is
 * shared (time-slicing, MPS).
 *
 * Settings (environment):
 * - SIGMA_SWEEP_DEVICE_MEMORY: `auto` (default: poll when the backend is tfjs-node-gpu), `off`, or
 *   `nvidia-smi` (poll whatever the backend: tests with a fake nvidia-smi, unrecognised GPU builds)
 * - SIGMA_SWEEP_DEVICE_MEMORY_SCOPE: `auto` (default), `pid` (rows of this pid only) or `all`
 *   (every compute process the container sees)
 * A failing nvidia-smi (absent, NVML error, timeout) is logged once per process, then ignored: the
 * batch records null, as on a CPU agent.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createLogger } from '../../protocol/log.ts';

export const MIB = 1024 * 1024;

/** How long one nvidia-smi call may take before it counts as failed (the driver can hang on a sick GPU). */
const QUERY_TIMEOUT_MS = 10_000;
const DEFAULT_INTERVAL_MS = 2_000;

export type DeviceMemoryMode = 'auto' | 'off' | 'nvidia-smi';
export type DeviceMemoryScope = 'auto' | 'pid' | 'all';

export interface ComputeApp {
  pid: number;
  usedMiB: number;
}

let warned = false;
/** Log the first failure of this process only: one line, not one per batch. */
function warnOnce(message: string, fields: Record<string, unknown>): void {
  if (warned) return;
  warned = true;
  createLogger().warn(message, fields);
}

function setting<T extends string>(name: string, allowed: readonly T[], fallback: T, env: NodeJS.ProcessEnv): T {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  if ((allowed as readonly string[]).includes(v)) return v as T;
  warnOnce(`${name}='${v}' is not one of ${allowed.join(', ')}; using '${fallback}'`, {});
  return fallback;
}

export function deviceMemoryMode(env: NodeJS.ProcessEnv = process.env): DeviceMemoryMode {
  return setting('SIGMA_SWEEP_DEVICE_MEMORY', ['auto', 'off', 'nvidia-smi'] as const, 'auto', env);
}

export function deviceMemoryScope(env: NodeJS.ProcessEnv = process.env): DeviceMemoryScope {
  return setting('SIGMA_SWEEP_DEVICE_MEMORY_SCOPE', ['auto', 'pid', 'all'] as const, 'auto', env);
}

/**
 * Whether batches on `device` (BackendInfo.device: "gpu: …" for tfjs-node-gpu, "cpu: …" otherwise)
 * get their device memory polled.
 */
export function deviceMemoryEnabled(device: string | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  const mode = deviceMemoryMode(env);
  if (mode === 'off') return false;
  if (mode === 'nvidia-smi') return true;
  return device?.startsWith('gpu:') ?? false;
}

/**
 * Rows of `nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits`
 * ("12345, 1536"). Rows without a number (`[N/A]`: MIG without permissions, a process that is
 * just starting) are left out.
 */
export function parseComputeApps(text: string): ComputeApp[] {
  const apps: ComputeApp[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s*,\s*(\d+(?:\.\d+)?)\s*$/.exec(line);
    if (m) apps.push({ pid: Number(m[1]), usedMiB: Number(m[2]) });
  }
  return apps;
}

/**
 * This process's device bytes in one nvidia-smi answer, under `scope` (see the header): own rows
 * when there are any; with `auto`, every row when none of the listed pids is visible here (host
 * pids seen from a container); else null (no CUDA context yet, or only other processes' rows).
 * Several rows of one pid (several GPUs) add up.
 */
export function processBytes(apps: ComputeApp[], pid: number, scope: DeviceMemoryScope, pidVisible: (pid: number) => boolean = (p) => existsSync(`/proc/${p}`)): number | null {
  const sum = (rows: ComputeApp[]) => Math.round(rows.reduce((a, r) => a + r.usedMiB, 0) * MIB);
  if (scope === 'all') return apps.length ? sum(apps) : null;
  const own = apps.filter((a) => a.pid === pid);
  if (own.length) return sum(own);
  if (scope === 'auto' && apps.length && apps.every((a) => !pidVisible(a.pid))) return sum(apps);
  return null;
}

/** Run nvidia-smi (from PATH) with `args`; rejects on a non-zero exit, a missing binary or the timeout. */
export function nvidiaSmi(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('nvidia-smi', args, { timeout: QUERY_TIMEOUT_MS, windowsHide: true }, (err, stdout, stderr) => {
      if (err) {
        const detail = String(stderr || stdout).trim().split('\n')[0];
        reject(new Error(detail ? `${err.message.split('\n')[0]}: ${detail}` : err.message.split('\n')[0]));
      } else resolve(stdout);
    });
  });
}

export const COMPUTE_APPS_ARGS = ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'];
export const GPU_NAME_ARGS = ['--query-gpu=index,uuid,name', '--format=csv,noheader'];

/**
 * The product name of the GPU this process uses ("NVIDIA A100-SXM4-80GB"), or null when
 * nvidia-smi cannot tell. The GPU is the first one in CUDA_VISIBLE_DEVICES (an index or a UUID)
 * where that is set, else the first the container sees (a Kubernetes pod sees only its own).
 */
export async function gpuProduct(env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  let text: string;
  try {
    text = await nvidiaSmi(GPU_NAME_ARGS);
  } catch (e) {
    warnOnce('nvidia-smi failed: the GPU product is unknown', { error: (e as Error).message });
    return null;
  }
  const rows = text
    .split('\n')
    .map((l) => l.split(',').map((c) => c.trim()))
    .filter((r) => r.length >= 3 && r[2]);
  const want = env.CUDA_VISIBLE_DEVICES?.split(',')[0]?.trim();
  const row = (want ? rows.find((r) => r[0] === want || r[1] === want || (want.startsWith('GPU-') && r[1].startsWith(want))) : undefined) ?? rows[0];
  return row ? row.slice(2).join(', ') : null;
}

/** BackendInfo.device of a tfjs-node-gpu backend: "gpu: <product>", or "gpu: cuda" when unknown. */
export async function gpuDevice(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return `gpu: ${(await gpuProduct(env)) ?? 'cuda'}`;
}

export interface SamplerOptions {
  pid?: number;
  scope?: DeviceMemoryScope;
  intervalMs?: number;
  /** answers the compute-apps query (default: nvidia-smi); tests may replace it */
  query?: () => Promise<string>;
}

/**
 * One batch's device-memory peak. start() samples at once and then every intervalMs (an unref'd
 * timer: it never keeps the process alive, and a sample is skipped while the previous one is still
 * running); stop() takes the closing sample and resolves with the highest bytes seen, or null when
 * no sample found this process.
 */
export class DeviceMemorySampler {
  private peak: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private inflight: Promise<void> | null = null;
  private stopped: Promise<number | null> | null = null;
  private readonly pid: number;
  private readonly scope: DeviceMemoryScope;
  private readonly query: () => Promise<string>;

  constructor(private readonly opts: SamplerOptions = {}) {
    this.pid = opts.pid ?? process.pid;
    this.scope = opts.scope ?? deviceMemoryScope();
    this.query = opts.query ?? (() => nvidiaSmi(COMPUTE_APPS_ARGS));
  }

  private sample(): Promise<void> {
    this.inflight ??= this.query()
      .then((text) => {
        const bytes = processBytes(parseComputeApps(text), this.pid, this.scope);
        if (bytes !== null && (this.peak === null || bytes > this.peak)) this.peak = bytes;
      })
      .catch((e: Error) => warnOnce('nvidia-smi failed: device memory is not recorded', { error: e.message }))
      .finally(() => {
        this.inflight = null;
      });
    return this.inflight;
  }

  start(): void {
    void this.sample();
    this.timer = setInterval(() => {
      if (!this.inflight) void this.sample();
    }, this.opts.intervalMs ?? DEFAULT_INTERVAL_MS);
    this.timer.unref();
  }

  /** Idempotent: a second call answers the first call's figure without sampling again. */
  stop(): Promise<number | null> {
    this.stopped ??= (async () => {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      if (this.inflight) await this.inflight;
      await this.sample();
      return this.peak;
    })();
    return this.stopped;
  }
}

/** A started sampler when batches on `device` are to be measured (deviceMemoryEnabled), else null. */
export function startDeviceMemory(device: string | undefined, opts: SamplerOptions = {}): DeviceMemorySampler | null {
  if (!deviceMemoryEnabled(device)) return null;
  const s = new DeviceMemorySampler(opts);
  s.start();
  return s;
}

/** For tests: forget that a failure was logged. */
export function resetDeviceMemoryWarnings(): void {
  warned = false;
}
