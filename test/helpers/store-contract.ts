/**
 * Behaviour every Store backend must show (run against PGlite and against the real PostgreSQL):
 * idempotent upserts, complete-task detection, and the paper metrics computed by the SQL views,
 * checked against hand-computed values.
 */
import { describe, expect, it } from 'vitest';
import type { Store } from '../../orchestrator/db/store.ts';
import type { Task, TaskResult } from '../../schema/wire.ts';

function task(key: string, indices: number[], attackLabel = 'sigma-zero'): Task {
  return {
    key,
    sweepId: 'sw-1',
    dataset: { name: 'mnist', split: 'test' },
    sampleIndices: indices,
    model: { name: 'm', sha256: 'a'.repeat(64) },
    attack: { label: attackLabel, name: 'sigma-zero', options: { steps: 10 } },
    steps: 10,
    batchSize: 2,
    seed: 0,
  };
}

/** l0 per sample, null = failure */
function result(t: Task, l0s: (number | null)[], secondsPerBatch = 1): TaskResult {
  return {
    taskKey: t.key,
    attempt: 1,
    agent: 'test',
    backend: 'cpu',
    device: 'cpu: test',
    startedAt: new Date(0).toISOString(),
    finishedAt: new Date(1000).toISOString(),
    samples: t.sampleIndices.map((idx, k) => {
      const l0 = l0s[k];
      const ok = l0 !== null;
      const n = ok ? l0 : 0;
      return {
        datasetIndex: idx,
        label: 1,
        cleanPred: 1,
        advPred: ok ? 2 : 1,
        success: ok,
        l0: n,
        l1: n,
        l2: Math.sqrt(n),
        linf: n ? 1 : 0,
        pertIndices: Array.from({ length: n }, (_, j) => j),
        pertValues: Array.from({ length: n }, () => 1),
      };
    }),
    batches: [
      { batchIndex: 0, size: 2, seconds: secondsPerBatch, forwards: 20, backwards: 20, peakBytesLogical: 1000, peakBytesDevice: null },
      { batchIndex: 1, size: 2, seconds: secondsPerBatch, forwards: 20, backwards: 20, peakBytesLogical: 3000, peakBytesDevice: null },
    ],
  };
}

export function storeContract(open: () => Promise<Store>) {
  describe('store contract', () => {
    it('records results idempotently and computes the paper metrics in SQL', async () => {
      const store = await open();
      try {
        const a = task('a'.repeat(32), [0, 1, 2, 3]);
        const b = task('b'.repeat(32), [4, 5, 6, 7]);
        await store.sweeps.upsert('sw-1', 'unit', { any: 'thing' });
        await store.tasks.upsert([a, b]);
        await store.tasks.upsert([a, b]); // re-planning is harmless
        expect(await store.tasks.completeKeys([a.key, b.key])).toEqual(new Set());

        // l0 over the 8 samples: 0, 5, 12, 40 | 60, 200, ∞, ∞
        await store.results.record(result(a, [0, 5, 12, 40]));
        await store.results.record(result(b, [60, 200, null, null]));
        await store.results.record(result(b, [60, 200, null, null])); // redelivery: no duplicates
        expect(await store.tasks.completeKeys([a.key, b.key])).toEqual(new Set([a.key, b.key]));

        const [row] = await store.reports.summary('sw-1');
        expect(row.n).toBe(8);
        expect(row.asr10).toBeCloseTo(25, 10); // 0, 5
        expect(row.asr24).toBeCloseTo(37.5, 10); // + 12
        expect(row.asr50).toBeCloseTo(50, 10); // + 40
        expect(row.asr100).toBeCloseTo(62.5, 10); // + 60
        expect(row.asr150).toBeCloseTo(62.5, 10);
        expect(row.asrInf).toBeCloseTo(75, 10);
        expect(row.medianL0).toBe(50); // mean of the middle two (40, 60)
        expect(row.secondsPerSample).toBeCloseTo(4 / 8, 12); // 4 batches × 1 s
        expect(row.queriesPerSample).toBeCloseTo((4 * 40) / 8, 12);
        expect(row.peakBytesLogical).toBe(3000);
        expect(typeof row.asr10).toBe('number');
        expect(row.budget).toBeNull();

        const { rows } = await store.reports.query('select count(*)::int as n from sample_results');
        expect(rows[0].n).toBe(8);
      } finally {
        await store.close();
      }
    });

    it('median is ∞ once failures reach the middle, and groups split by attack label', async () => {
      const store = await open();
      try {
        const base = task('c'.repeat(32), [0, 1, 2], 'other');
        // a fixed-budget attack (Sparse-RS, k in features): its budget is stored as a column
        const c = { ...base, sweepId: 'sw-2', attack: { ...base.attack, name: 'sparse-rs', options: { k: 3 } } };
        await store.sweeps.upsert('sw-2', 'unit2', {});
        await store.tasks.upsert([c]);
        await store.results.record(result(c, [3, null, null]));
        const rows = await store.reports.summary('sw-2');
        expect(rows).toHaveLength(1);
        expect(rows[0].attack).toBe('other');
        expect(rows[0].medianL0).toBe(Infinity);
        expect(rows[0].asrInf).toBeCloseTo(100 / 3, 10);
        // fixed-budget group: ASR at its own k (ℓ0 3 ≤ k = 3)
        expect(rows[0].budget).toBe(3);
        expect(rows[0].budgetUnit).toBe('feature');
        expect(rows[0].asrBudget).toBeCloseTo(100 / 3, 10);
      } finally {
        await store.close();
      }
    });

    it('gives back a stored task exactly as published: dataset files and model path included', async () => {
      const store = await open();
      try {
        const plain = task('e'.repeat(32), [0, 1]);
        const files: Task = {
          ...task('f'.repeat(32), [3, 4]),
          dataset: { name: 'imagenet', split: 'test', path: '/data/val', labels: '/data/val.txt', resize: '256-crop-224' },
          model: { name: 'resnet', sha256: 'b'.repeat(64), path: '/models/resnet18.onnx' },
        };
        await store.sweeps.upsert('sw-1', 'files', {});
        await store.tasks.upsert([plain, files]);
        expect(await store.tasks.get(plain.key)).toEqual(plain);
        expect(await store.tasks.get(files.key)).toEqual(files);
      } finally {
        await store.close();
      }
    });

    it('stores a 6000-sample message (72000 values: past the 65535-parameter limit)', async () => {
      const store = await open();
      try {
        const n = 6000; // 6000 rows × 12 columns = 72000 parameters
        const t = { ...task('d'.repeat(32), Array.from({ length: n }, (_, i) => i)), sweepId: 'sw-3' };
        await store.sweeps.upsert('sw-3', 'big', {});
        await store.tasks.upsert([t]);
        await store.results.record(result(t, Array.from({ length: n }, (_, i) => i % 7)));
        const { rows } = await store.reports.query(`select count(*)::int as n from sample_results where task_key = '${t.key}'`);
        expect(rows[0].n).toBe(n);
      } finally {
        await store.close();
      }
    });
  });
}
