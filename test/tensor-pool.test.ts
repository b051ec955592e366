/**
 * The tensor workers of an agent (agent/tensor-pool.ts): a task's batches spread over the slots,
 * and the per-sample results do not depend on how many slots there are (nor on whether the task
 * runs in this thread), for a deterministic attack (σ-zero) and for a seeded random one (PGD-ℓ0).
 * Worker threads are real (one wasm instance each), as in `sigma-sweep agent` and `run --slots`.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runTask } from '../agent/run-task.ts';
import { batchRanges } from '../agent/batches.ts';
import { TensorPool } from '../agent/tensor-pool.ts';
import { TaskFailedError } from '../agent/tensor-worker.ts';
import type { Task, TaskResult } from '../schema/wire.ts';
import { smallCnnTask } from './helpers/zoo.ts';

const task = (attack: string, options: Record<string, unknown>, over: Partial<Task> = {}): Task =>
  smallCnnTask({
    key: attack.padEnd(32, '0').slice(0, 32),
    sweepId: 'pool',
    sampleIndices: Array.from({ length: 14 }, (_, i) => 100 + 7 * i),
    attack: { label: attack, name: attack, options },
    steps: 15,
    ...over,
  });

/** What must not depend on the slots: everything per sample, and each batch's size and queries. */
const invariant = (r: TaskResult) => ({
  samples: r.samples,
  batches: r.batches.map((b) => ({ batchIndex: b.batchIndex, size: b.size, forwards: b.forwards, backwards: b.backwards })),
});

const pools: TensorPool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.stop()));
});

describe('TensorPool', () => {
  it('cuts tasks into consecutive batches of batchSize (the last one shorter)', () => {
    expect(batchRanges({ sampleIndices: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], batchSize: 4 })).toEqual([[0, 4], [4, 8], [8, 10]]);
    expect(batchRanges({ sampleIndices: [5], batchSize: 32 })).toEqual([[0, 1]]);
  });

  it('gives the same per-sample results with 1 slot, 2 slots and in-process (σ-zero and PGD-ℓ0)', async () => {
    const one = new TensorPool(1, 'wasm');
    const two = new TensorPool(2, 'wasm');
    pools.push(one, two);
    for (const t of [task('sigma-zero', {}), task('pgd-l0', { k: 12, restarts: 1, seed: 3 })]) {
      const inProcess = await runTask(t, { backend: 'wasm', attempt: 1 });
      const progress: number[] = [];
      const [r1, r2] = await Promise.all([one.run(t, 1, 'a'), two.run(t, 1, 'b', (done) => progress.push(done))]);
      expect(invariant(r1)).toEqual(invariant(inProcess));
      expect(invariant(r2)).toEqual(invariant(inProcess));
      expect(r2.samples.map((s) => s.datasetIndex)).toEqual(t.sampleIndices);
      expect(r2.batches.map((b) => b.batchIndex)).toEqual([0, 1, 2, 3]);
      expect(progress.at(-1)).toBe(t.sampleIndices.length);
      expect(r2.taskKey).toBe(t.key);
    }
  });

  it('a failing batch fails the task with its reason (permanent), and the pool keeps working', async () => {
    const pool = new TensorPool(2, 'wasm');
    pools.push(pool);
    const bad = task('sigma-zero', {}, { sampleIndices: [1, 2, 3, 4, 99_999] });
    const err = await pool.run(bad, 1, 'c').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskFailedError);
    expect((err as TaskFailedError).permanent).toBe(true);
    expect((err as Error).message).toMatch(/99999 is outside mnist\/test/);
    const ok = await pool.run(task('noop', {}), 1, 'c');
    expect(ok.samples).toHaveLength(14);
  });

  it('stops mid-batch on the ONNX Runtime engine without aborting the process (the attack ends at a step boundary)', () => {
    // terminating the thread inside onnxruntime-node's run aborted the process (exit 134, "terminate
    // called after throwing an instance of 'Napi::Error'"): an agent's SIGTERM drain did that
    const script = path.join(import.meta.dirname, 'fixtures', 'scripts', 'stop-mid-batch.mts');
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 90_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('stopping mid-run');
    expect(r.stdout).toContain('survived');
  });
});
