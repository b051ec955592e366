/**
 * Planner: sweep spec → tasks. A task is (sweep, dataset, sample shard, model, attack + resolved
 * options, steps, batch size, seed); its key is the sha256 (first 32 hex digits) of the canonical
 * JSON of exactly those fields, so the same spec always gives the same keys and re-planning a sweep
 * can skip every task that already has a complete result. Options come resolved from the spec
 * validation (spec.ts); the planner only slices.
 */
import { createHash } from 'node:crypto';
import type { Task } from '../schema/wire.ts';
import { datasetRefOf, type SweepSpec } from './spec.ts';

/** JSON with object keys sorted recursively: a stable input for hashing. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Sweep id: the spec's name plus a hash of everything the user wrote (defaults filled in). */
export function sweepId(spec: SweepSpec): string {
  const identity = { ...spec, attacks: spec.attacks.map(({ label, name, options }) => ({ label, name, options })) };
  return `${spec.name}-${sha256(canonicalJson(identity)).slice(0, 10)}`;
}

export function taskKey(t: Omit<Task, 'key'>): string {
  return sha256(canonicalJson(t)).slice(0, 32);
}

export function planSweep(spec: SweepSpec): { sweepId: string; tasks: Task[] } {
  const id = sweepId(spec);
  const tasks: Task[] = [];
  for (const ds of spec.datasets) {
    for (const model of spec.models) {
      for (const attack of spec.attacks) {
        for (const steps of spec.steps) {
          const options = attack.resolved[steps];
          for (let s = 0; s < ds.indices.length; s += spec.shardSize) {
            const body: Omit<Task, 'key'> = {
              sweepId: id,
              dataset: datasetRefOf(ds),
              sampleIndices: ds.indices.slice(s, s + spec.shardSize),
              model: { name: model.name, sha256: model.sha256, ...(model.path ? { path: model.path } : {}) },
              attack: { label: attack.label, name: attack.name, options },
              steps,
              batchSize: spec.batchSize,
              seed: spec.seed,
            };
            tasks.push({ key: taskKey(body), ...body });
          }
        }
      }
    }
  }
  return { sweepId: id, tasks };
}
