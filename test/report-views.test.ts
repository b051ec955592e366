/**
 * The report views (schema/migrations/0005_report_views.sql) against hand-computed values, on PGlite
 * and on the real PostgreSQL: group_summary's memory kind and device-seconds, the robustness curve
 * (one row per distinct finite ℓ0, ties and the ∞ of failures), and the per-sample ensemble.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Store } from '../orchestrator/db/store.ts';
import type { Task, TaskResult } from '../schema/wire.ts';
import { createTempDatabase } from './helpers/pg.ts';

const SWEEP = 'views-1';
const INDICES = [0, 1, 2, 3];

function task(label: string): Task {
  return {
    key: label.padEnd(32, '0'),
    sweepId: SWEEP,
    dataset: { name: 'mnist', split: 'test' },
    sampleIndices: INDICES,
    model: { name: 'm', sha256: 'a'.repeat(64) },
    attack: { label, name: 'sigma-zero', options: {} },
    steps: 10,
    batchSize: 2,
    seed: 0,
  };
}

/** ℓ0 per sample (null: failure, 0 with clean ≠ label: already misclassified); 2 batches of `seconds` each. */
function result(t: Task, l0s: (number | null)[], seconds: number, deviceBytes: number | null): TaskResult {
  return {
    taskKey: t.key,
    attempt: 1,
    agent: 'test',
    backend: 'cpu',
    device: 'test',
    startedAt: new Date(0).toISOString(),
    finishedAt: new Date(1000).toISOString(),
    samples: INDICES.map((datasetIndex, k) => {
      const l0 = l0s[k];
      const n = l0 ?? 0;
      return {
        datasetIndex,
        label: 1,
        cleanPred: k === 0 ? 2 : 1, // sample 0 is misclassified before any attack
        advPred: l0 === null ? 1 : 2,
        success: l0 !== null,
        l0: n,
        l1: n,
        l2: n,
        linf: n ? 1 : 0,
        pertIndices: Array.from({ length: n }, (_, j) => j),
        pertValues: Array.from({ length: n }, () => 1),
      };
    }),
    batches: [0, 1].map((batchIndex) => ({ batchIndex, size: 2, seconds, forwards: 20, backwards: 20, peakBytesLogical: 1000 * (batchIndex + 1), peakBytesDevice: deviceBytes })),
  };
}

async function fill(store: Store): Promise<void> {
  const a = task('a');
  const b = task('b');
  await store.sweeps.upsert(SWEEP, 'views', {});
  await store.tasks.upsert([a, b]);
  await store.results.record(result(a, [0, 5, 12, null], 1.5, null));
  await store.results.record(result(b, [0, 7, 3, 40], 2, 5 * 2 ** 20));
}

const backends: Array<[string, () => Promise<{ store: Store; done: () => Promise<void> }>]> = [
  ['PGlite', async () => ({ store: await Store.open({ dataDir: mkdtempSync(path.join(os.tmpdir(), 'sigma-views-')) }), done: async () => {} })],
  [
    'PostgreSQL',
    async () => {
      const db = await createTempDatabase();
      return { store: await Store.open({ databaseUrl: db.url }), done: db.drop };
    },
  ],
];

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

describe.each(backends)('report views on %s', (_name, open) => {
  it('group_summary: memory with its kind, device-seconds', async () => {
    const { store, done } = await open();
    cleanups.push(async () => (await store.close(), await done()));
    await fill(store);
    const { rows } = await store.reports.query(`select attack, memory_bytes, memory_kind, device_seconds, n from group_summary where sweep_id = '${SWEEP}' order by attack`);
    expect(rows).toEqual([
      { attack: 'a', memory_bytes: 2000, memory_kind: 'logical', device_seconds: 3, n: 4 },
      { attack: 'b', memory_bytes: 5 * 2 ** 20, memory_kind: 'device', device_seconds: 4, n: 4 },
    ]);
  });

  it('robustness_curve: one row per distinct finite ℓ0, ASR over all N (failures never reached)', async () => {
    const { store, done } = await open();
    cleanups.push(async () => (await store.close(), await done()));
    await fill(store);
    const { rows } = await store.reports.query(`select attack, k, asr, n from robustness_curve where sweep_id = '${SWEEP}' order by attack, k`);
    expect(rows).toEqual([
      { attack: 'a', k: 0, asr: 25, n: 4 },
      { attack: 'a', k: 5, asr: 50, n: 4 },
      { attack: 'a', k: 12, asr: 75, n: 4 }, // the failure keeps a below 100
      { attack: 'b', k: 0, asr: 25, n: 4 },
      { attack: 'b', k: 3, asr: 50, n: 4 },
      { attack: 'b', k: 7, asr: 75, n: 4 },
      { attack: 'b', k: 40, asr: 100, n: 4 },
    ]);
    // the curve agrees with attack_summary at the summary's k values
    const { rows: s } = await store.reports.query(`select attack, asr_10, asr_50 from attack_summary where sweep_id = '${SWEEP}' order by attack`);
    expect(s).toEqual([
      { attack: 'a', asr_10: 50, asr_50: 75 },
      { attack: 'b', asr_10: 75, asr_50: 100 },
    ]);
  });

  it('ensemble_best: per-sample minimum over the attacks, the attack that reached it, ties to the first label', async () => {
    const { store, done } = await open();
    cleanups.push(async () => (await store.close(), await done()));
    await fill(store);
    const { rows } = await store.reports.query(
      `select dataset_index, best_l0, best_attack, attacks, clean_correct from ensemble_best where sweep_id = '${SWEEP}' order by dataset_index`,
    );
    expect(rows).toEqual([
      { dataset_index: 0, best_l0: 0, best_attack: 'a', attacks: 2, clean_correct: false },
      { dataset_index: 1, best_l0: 5, best_attack: 'a', attacks: 2, clean_correct: true },
      { dataset_index: 2, best_l0: 3, best_attack: 'b', attacks: 2, clean_correct: true },
      { dataset_index: 3, best_l0: 40, best_attack: 'b', attacks: 2, clean_correct: true },
    ]);
  });

  it('attack_optimality: AttackBench ξ against the ensemble (hand-computed, and the trapezoid rule recomputed from the rows)', async () => {
    const { store, done } = await open();
    cleanups.push(async () => (await store.close(), await done()));
    await fill(store);
    // δ* = [0, 5, 3, 40], ε_max = 40, c = 3/4 (sample 0 misclassified before any attack).
    // A* = mean(0, 5, 3, 40) − RA*(0)/2 = 12 − 3/8 = 11.625; a (failure clipped to 40): 14.25 − 0.375 = 13.875;
    // b: 12.5 − 0.375 = 12.125; ξ = 1 − (A − A*)/(W − A*) with W = 0.75·40 − 0.375 = 29.625 the area, by the
    // same rule, of an attack that breaks nothing (0.75 on 0…39, 0 at 40)
    const { rows } = await store.reports.query(
      `select attack, n, eps_max, clean_accuracy, area, ensemble_area, optimality from attack_optimality where sweep_id = '${SWEEP}' order by attack`,
    );
    expect(rows).toHaveLength(2);
    const [a, b] = rows as Array<Record<string, number>>;
    expect([a.eps_max, a.clean_accuracy, a.ensemble_area, a.area, b.area]).toEqual([40, 0.75, 11.625, 13.875, 12.125]);
    expect(a.optimality).toBeCloseTo(1 - 2.25 / 18, 12);
    expect(b.optimality).toBeCloseTo(1 - 0.5 / 18, 12);
    // the same area by the trapezoid rule on the integer grid, from the per-sample rows
    const { rows: samples } = await store.reports.query(`select attack_label, l0_eff from sample_l0 where sweep_id = '${SWEEP}'`);
    const trapezoid = (d: number[], eMax: number) => {
      const clipped = d.map((x) => Math.min(x, eMax));
      const ra = (e: number) => clipped.filter((x) => x > e).length / clipped.length;
      let area = 0;
      for (let j = 0; j < eMax; j++) area += (ra(j) + ra(j + 1)) / 2;
      return area;
    };
    const l0s = (label: string) => samples.filter((r) => r.attack_label === label).map((r) => Number(r.l0_eff));
    expect(a.area).toBeCloseTo(trapezoid(l0s('a'), 40), 12);
    expect(b.area).toBeCloseTo(trapezoid(l0s('b'), 40), 12);
    // W is that rule's area for a curve with every correctly classified sample clipped at ε_max
    expect(trapezoid([0, 40, 40, 40], 40)).toBeCloseTo(29.625, 12);
    const { rows: global } = await store.reports.query(`select attack, optimality, models from attack_global_optimality where sweep_id = '${SWEEP}' order by attack`);
    expect(global.map((g) => g.models)).toEqual([1, 1]);
    expect(global[0].optimality).toBeCloseTo(a.optimality, 12);
  });

  it('attack_optimality: ξ is 0 for an attack that breaks nothing and 1 for the ensemble\'s own curve', async () => {
    const { store, done } = await open();
    cleanups.push(async () => (await store.close(), await done()));
    await fill(store);
    const none = task('none');
    const best = task('best');
    await store.tasks.upsert([none, best]);
    await store.results.record(result(none, [0, null, null, null], 1, null));
    await store.results.record(result(best, [0, 5, 3, 40], 1, null)); // δ* itself
    const { rows } = await store.reports.query(`select attack, optimality from attack_optimality where sweep_id = '${SWEEP}' and attack in ('none', 'best') order by attack`);
    const xi = Object.fromEntries(rows.map((r) => [r.attack, r.optimality]));
    expect(xi.none).toBeCloseTo(0, 12);
    expect(xi.best).toBeCloseTo(1, 12);
  });
});
