/**
 * Fixed per-sample rows for the report tests (curves, leaderboard): a sweep written straight into a
 * store (sweeps, tasks, results, batch metrics) from ℓ0 lists, with the spec a planner would store,
 * and two nights of a leaderboard where one attack gets worse.
 */
import { createHash } from 'node:crypto';
import type { Store } from '../../orchestrator/db/store.ts';
import type { Task, TaskResult } from '../../schema/wire.ts';

export interface Group {
  model: string;
  /** the label */
  attack: string;
  /** registry name (default: the label) */
  name?: string;
  options?: Record<string, unknown>;
  steps?: number;
  /** ℓ0 per sample (null: failure); every clean input is classified correctly */
  l0s: (number | null)[];
}

/** Each group's task runs 2 batches; per batch: 1 s, 20 forwards, 10 backwards (so 10 and 5 per sample for 4 samples). */
export const BATCH = { seconds: 1, forwards: 20, backwards: 10 } as const;

/** Write one sweep: its row (spec as given, created_at as given), a task per group, its results. */
export async function addSweep(store: Store, sweepId: string, spec: Record<string, unknown>, groups: readonly Group[], createdAt?: string): Promise<void> {
  const attacks = [...new Map(groups.map((g) => [g.attack, { label: g.attack, name: g.name ?? g.attack, options: g.options ?? {} }])).values()];
  await store.sweeps.upsert(sweepId, String(spec.name ?? sweepId), { ...spec, attacks });
  if (createdAt) await store.reports.query(`update sweeps set created_at = '${createdAt}' where id = '${sweepId}'`);
  for (const g of groups) {
    const indices = g.l0s.map((_, i) => i);
    const body: Omit<Task, 'key'> = {
      sweepId,
      dataset: { name: 'mnist', split: 'test' },
      sampleIndices: indices,
      model: { name: g.model, sha256: 'a'.repeat(64) },
      attack: { label: g.attack, name: g.name ?? g.attack, options: g.options ?? {} },
      steps: g.steps ?? 100,
      batchSize: 2,
      seed: 0,
    };
    const task: Task = { key: createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 32), ...body };
    await store.tasks.upsert([task]);
    const result: TaskResult = {
      taskKey: task.key,
      attempt: 1,
      agent: 'test',
      backend: 'cpu',
      device: 'test',
      startedAt: new Date(0).toISOString(),
      finishedAt: new Date(1000).toISOString(),
      samples: g.l0s.map((l0, datasetIndex) => {
        const n = l0 ?? 0;
        return {
          datasetIndex,
          label: 1,
          cleanPred: 1,
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
      batches: [0, 1].map((batchIndex) => ({ batchIndex, size: Math.ceil(g.l0s.length / 2), ...BATCH, peakBytesLogical: 1000, peakBytesDevice: null })),
    };
    await store.results.record(result);
  }
}

export const HOSTILE_MODEL = '<img src=x onerror=alert(1)>';
export const HOSTILE_ATTACK = '"><svg onload=alert(2)>&amp;';
export const LEADERBOARD = 'mnist-nightly';

/**
 * Two nights of LEADERBOARD (4 samples per group, all clean inputs correct):
 *
 *   model m1        night 2025-06-01             night 2025-06-02
 *   alpha           [3, 5, 8, 20]   ASR_10 75    [13, 15, 18, 20]  ASR_10 0    ← regression
 *   beta            [12, 30, ∞, 60] ASR_10 0     [8, 30, 40, 60]   ASR_10 25   ← improvement
 *   gamma           [2, 9, 11, ∞]   ASR_10 50    [2, 9, 11, ∞]     ASR_10 50   (unchanged)
 *   model HOSTILE_MODEL: alpha [1, 2, 3, 4] and HOSTILE_ATTACK [5, 6, 7, 8] both nights.
 *
 * Ranked by ASR_10, night 2: gamma (50), beta (25), alpha (0); by median ℓ0: gamma 10, alpha 16.5, beta 35.
 */
export const NIGHTS = [
  {
    night: '2025-06-01',
    sweepId: 'lb-night-1',
    createdAt: '2025-06-01T03:00:00Z',
    m1: { alpha: [3, 5, 8, 20], beta: [12, 30, null, 60], gamma: [2, 9, 11, null] },
  },
  {
    night: '2025-06-02',
    sweepId: 'lb-night-2',
    createdAt: '2025-06-02T03:00:00Z',
    m1: { alpha: [13, 15, 18, 20], beta: [8, 30, 40, 60], gamma: [2, 9, 11, null] },
  },
] as const;

export async function addLeaderboardNights(store: Store): Promise<void> {
  for (const n of NIGHTS) {
    const groups: Group[] = [
      { model: 'm1', attack: 'alpha', name: 'sigma-zero', l0s: [...n.m1.alpha] },
      { model: 'm1', attack: 'beta', name: 'fmn-l0', options: { lr: 0.5 }, l0s: [...n.m1.beta] },
      { model: 'm1', attack: 'gamma', name: 'pgd-l0+search', l0s: [...n.m1.gamma] },
      { model: HOSTILE_MODEL, attack: 'alpha', name: 'sigma-zero', l0s: [1, 2, 3, 4] },
      { model: HOSTILE_MODEL, attack: HOSTILE_ATTACK, name: 'vfga', l0s: [5, 6, 7, 8] },
    ];
    await addSweep(store, n.sweepId, { name: 'lb', leaderboard: { name: LEADERBOARD, night: n.night } }, groups, n.createdAt);
  }
  // a sweep of another leaderboard and one of none: neither is a night of LEADERBOARD
  await addSweep(store, 'other-1', { name: 'other', leaderboard: { name: 'other-board', night: '2025-06-02' } }, [{ model: 'm1', attack: 'alpha', l0s: [1, 1, 1, 1] }]);
  await addSweep(store, 'plain-1', { name: 'plain' }, [{ model: 'm1', attack: 'alpha', l0s: [1, 1, 1, 1] }]);
}
