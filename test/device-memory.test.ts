/**
 * GPU device memory per batch (agent/engine/device-memory.ts) against a fake `nvidia-smi`
 * (test/fixtures/bin/nvidia-smi, first on PATH) that prints known values: the parsing and the
 * pid rules (own rows; host pids seen from a container), the GPU product, failures logged once, and
 * end to end — an embedded `run` on one thread and a tensor pool — where every batch_metrics row's
 * peak_bytes_device equals the fake's maximum and group_summary calls the figure 'device'. Without
 * the override a CPU (wasm) run never calls nvidia-smi and keeps the logical peak.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  DeviceMemorySampler,
  MIB,
  deviceMemoryEnabled,
  gpuDevice,
  gpuProduct,
  parseComputeApps,
  processBytes,
  resetDeviceMemoryWarnings,
} from '../agent/engine/device-memory.ts';
import { TensorPool } from '../agent/tensor-pool.ts';
import { cli } from './helpers/cli.ts';
import { smallCnnTask, writeSpec } from './helpers/zoo.ts';

const FAKE_BIN = path.resolve(import.meta.dirname, 'fixtures/bin');
const ENV_KEYS = ['PATH', 'CUDA_VISIBLE_DEVICES', 'SIGMA_SWEEP_DEVICE_MEMORY', 'SIGMA_SWEEP_DEVICE_MEMORY_SCOPE'];
const saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
let state: string;
let tmp: string;

beforeEach(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'devmem-'));
  state = path.join(tmp, 'calls');
  process.env.PATH = `${FAKE_BIN}${path.delimiter}${saved.PATH}`;
  for (const k of ENV_KEYS.slice(1)) delete process.env[k];
  for (const k of Object.keys(process.env)) if (k.startsWith('FAKE_NVIDIA_SMI_')) delete process.env[k];
  process.env.FAKE_NVIDIA_SMI_STATE = state;
  resetDeviceMemoryWarnings();
});

afterEach(() => {
  for (const k of ENV_KEYS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  rmSync(tmp, { recursive: true, force: true });
  vi.restoreAllMocks();
});

/** compute-apps queries the fake answered so far */
const calls = () => (existsSync(state) ? Number(readFileSync(state, 'utf8').trim()) : 0);

describe('nvidia-smi answers', () => {
  it('parses compute-app rows and skips [N/A] and noise', () => {
    expect(parseComputeApps('4242, 1536\n  77 , 12.5\n88, [N/A]\n\nNo running processes found\n')).toEqual([
      { pid: 4242, usedMiB: 1536 },
      { pid: 77, usedMiB: 12.5 },
    ]);
  });

  it('counts this pid (all its rows); from a container, where NVML lists host pids, the whole GPU', () => {
    const apps = [
      { pid: 10, usedMiB: 100 },
      { pid: 20, usedMiB: 30 },
      { pid: 10, usedMiB: 5 },
    ];
    const visible = () => true;
    const hidden = () => false;
    expect(processBytes(apps, 10, 'auto', visible)).toBe(105 * MIB);
    expect(processBytes(apps, 10, 'pid', hidden)).toBe(105 * MIB);
    expect(processBytes(apps, 99, 'auto', visible)).toBeNull(); // only neighbours we can see: not ours
    expect(processBytes(apps, 99, 'auto', hidden)).toBe(135 * MIB); // a PID namespace: everything on our GPU
    expect(processBytes(apps, 99, 'pid', hidden)).toBeNull();
    expect(processBytes(apps, 10, 'all', visible)).toBe(135 * MIB);
    expect(processBytes([], 10, 'auto', hidden)).toBeNull(); // no CUDA context yet
  });

  it('polls only for a GPU backend unless told otherwise', () => {
    expect(deviceMemoryEnabled('gpu: NVIDIA A100-SXM4-80GB', {})).toBe(true);
    expect(deviceMemoryEnabled('cpu: AMD EPYC (2 cores)', {})).toBe(false);
    expect(deviceMemoryEnabled('cpu: AMD EPYC (2 cores)', { SIGMA_SWEEP_DEVICE_MEMORY: 'nvidia-smi' })).toBe(true);
    expect(deviceMemoryEnabled('gpu: NVIDIA A100-SXM4-80GB', { SIGMA_SWEEP_DEVICE_MEMORY: 'off' })).toBe(false);
  });
});

describe('the fake nvidia-smi on PATH', () => {
  it('the GPU product: the first GPU, or the one CUDA_VISIBLE_DEVICES names (index or UUID)', async () => {
    expect(await gpuProduct()).toBe('NVIDIA A100-SXM4-80GB');
    expect(await gpuDevice()).toBe('gpu: NVIDIA A100-SXM4-80GB');
    process.env.FAKE_NVIDIA_SMI_GPUS = '0|GPU-aaaa1111-0000|NVIDIA A100-PCIE-40GB;1|GPU-bbbb2222-0000|NVIDIA A100-SXM4-80GB';
    process.env.CUDA_VISIBLE_DEVICES = '1';
    expect(await gpuProduct()).toBe('NVIDIA A100-SXM4-80GB');
    process.env.CUDA_VISIBLE_DEVICES = 'GPU-aaaa1111';
    expect(await gpuProduct()).toBe('NVIDIA A100-PCIE-40GB');
  });

  it('a sampler keeps the highest of its samples, in bytes', async () => {
    process.env.FAKE_NVIDIA_SMI_MIB = '1200 300';
    const s = new DeviceMemorySampler({ intervalMs: 60_000 });
    s.start();
    expect(await s.stop()).toBe(1200 * MIB);
    expect(await s.stop()).toBe(1200 * MIB); // idempotent: no further call
    expect(calls()).toBe(2); // the opening and the closing sample
  });

  it('host pids seen from a container: auto counts every process on the GPU, pid finds nothing', async () => {
    process.env.FAKE_NVIDIA_SMI_MIB = '700';
    process.env.FAKE_NVIDIA_SMI_PID = '999999999'; // above any pid_max: no such process here
    process.env.FAKE_NVIDIA_SMI_OTHERS = '999999998:100';
    const auto = new DeviceMemorySampler({ intervalMs: 60_000 });
    auto.start();
    expect(await auto.stop()).toBe(800 * MIB);
    const own = new DeviceMemorySampler({ intervalMs: 60_000, scope: 'pid' });
    own.start();
    expect(await own.stop()).toBeNull();
  });

  it('a failing nvidia-smi gives null and one warning per process; a missing one gives null', async () => {
    const err: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (err.push(String(s)), true));
    process.env.FAKE_NVIDIA_SMI_FAIL = '1';
    for (let i = 0; i < 2; i++) {
      const s = new DeviceMemorySampler({ intervalMs: 60_000 });
      s.start();
      expect(await s.stop()).toBeNull();
    }
    const warnings = err.filter((l) => l.includes('nvidia-smi failed'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("couldn't communicate with the NVIDIA driver");

    delete process.env.FAKE_NVIDIA_SMI_FAIL;
    process.env.PATH = saved.PATH!.split(path.delimiter).filter((d) => !existsSync(path.join(d, 'nvidia-smi'))).join(path.delimiter);
    const s = new DeviceMemorySampler({ intervalMs: 60_000 });
    s.start();
    expect(await s.stop()).toBeNull();
    expect(await gpuDevice()).toBe('gpu: cuda');
  });
});

describe('batch_metrics.peak_bytes_device end to end (fake nvidia-smi)', () => {
  const spec = ['name: devmem', 'datasets: [{ name: mnist, split: test, samples: { first: 8 } }]', 'models: [mnist-smallcnn]', 'attacks: [sigma-zero]', 'steps: [5]', 'batchSize: 4', 'shardSize: 8'];

  async function rows(dataDir: string, query: string) {
    const r = await cli(['sql', query, '--format', 'json', '--data-dir', dataDir]);
    expect(r.code, r.err).toBe(0);
    return JSON.parse(r.out) as Array<Record<string, unknown>>;
  }

  it('an embedded run (one thread): every batch row holds the fake maximum, and the table calls it device memory', async () => {
    process.env.SIGMA_SWEEP_DEVICE_MEMORY = 'nvidia-smi'; // the backend is wasm here: force the polling
    process.env.FAKE_NVIDIA_SMI_MIB = '1200 300'; // alternating: every batch's two or more samples see 1200
    const { dir, spec: file } = writeSpec('devmem-run-', spec);
    const dataDir = path.join(dir, 'data');
    const r = await cli(['run', file, '--slots', '1', '--data-dir', dataDir, '--no-progress']);
    expect(r.code, r.err).toBe(0);
    const batches = await rows(dataDir, 'select batch_index, peak_bytes_device::float8 as dev, peak_bytes_logical::float8 as logical from batch_metrics order by batch_index');
    expect(batches).toHaveLength(2);
    for (const b of batches) {
      expect(b.dev).toBe(1200 * MIB);
      expect(b.logical as number).toBeGreaterThan(0); // the logical peak is still measured
    }
    expect(calls()).toBeGreaterThanOrEqual(4);
    const [g] = await rows(dataDir, 'select memory_kind, memory_bytes::float8 as bytes from group_summary');
    expect(g).toEqual({ memory_kind: 'device', bytes: 1200 * MIB });
  });

  it('a CPU run without the override never calls nvidia-smi and keeps the logical peak', async () => {
    const { dir, spec: file } = writeSpec('devmem-cpu-', spec);
    const dataDir = path.join(dir, 'data');
    const r = await cli(['run', file, '--slots', '1', '--data-dir', dataDir, '--no-progress']);
    expect(r.code, r.err).toBe(0);
    const batches = await rows(dataDir, 'select peak_bytes_device from batch_metrics');
    expect(batches.map((b) => b.peak_bytes_device)).toEqual([null, null]);
    expect(calls()).toBe(0);
    const [g] = await rows(dataDir, 'select memory_kind from group_summary');
    expect(g.memory_kind).toBe('logical');
  });

  it('a tensor pool (worker thread): the main thread polls and fills each batch', async () => {
    process.env.SIGMA_SWEEP_DEVICE_MEMORY = 'nvidia-smi';
    process.env.FAKE_NVIDIA_SMI_MIB = '2048 512';
    const pool = new TensorPool(1, 'wasm');
    try {
      const result = await pool.run(smallCnnTask({ sampleIndices: [0, 1, 2, 3, 4, 5], steps: 5, batchSize: 3 }), 1, 'test-agent');
      expect(result.batches.map((b) => b.peakBytesDevice)).toEqual([2048 * MIB, 2048 * MIB]);
    } finally {
      await pool.stop();
    }
  });
});
