/** The zoo MNIST SmallCNN for tests: its task reference, the loaded model, and task literals. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { selectBackend } from '../../agent/engine/backend.ts';
import { loadTaskModel } from '../../agent/models/load.ts';
import type { Net } from '../../agent/engine/net.ts';
import { zooModel } from '../../agent/models/zoo.ts';
import type { Task } from '../../schema/wire.ts';

export const SMALLCNN = { name: 'mnist-smallcnn', sha256: zooModel('mnist-smallcnn')!.sha256 };

/** Select the wasm backend and load the zoo SmallCNN (cached per process). */
export async function loadSmallCnn(): Promise<Net> {
  await selectBackend('wasm');
  return loadTaskModel(SMALLCNN);
}

/** A σ-zero task on MNIST test images with the zoo SmallCNN; `over` replaces any field. */
export function smallCnnTask(over: Partial<Task> & Pick<Task, 'sampleIndices'>): Task {
  return {
    key: 't'.repeat(32),
    sweepId: 'unit',
    dataset: { name: 'mnist', split: 'test' },
    model: SMALLCNN,
    attack: { label: 'sigma-zero', name: 'sigma-zero', options: {} },
    steps: 10,
    batchSize: 4,
    seed: 0,
    ...over,
  };
}

/** Write a sweep spec (YAML lines) into a fresh temporary folder; returns the folder and the file. */
export function writeSpec(prefix: string, lines: string[]): { dir: string; spec: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const spec = path.join(dir, 'spec.yaml');
  writeFileSync(spec, [...lines, ''].join('\n'));
  return { dir, spec };
}
