/** The σ-zero golden trace (shared/fixtures) and the tiny MLP it was recorded on, as tfjs objects. */
import * as tf from '@tensorflow/tfjs';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** shared/ sits next to the repository root (../shared from a clone, as CI lays it out). */
export function sharedDir(): string {
  const candidates = [process.env.SIGMA_SWEEP_SHARED, path.resolve(here, '../../../shared'), path.resolve(here, '../../shared')].filter(Boolean) as string[];
  const hit = candidates.find((c) => existsSync(path.join(c, 'fixtures', 'sigma-zero-golden-trace.json')));
  if (!hit) throw new Error(`shared/fixtures/sigma-zero-golden-trace.json not found (looked in ${candidates.join(', ')}; set SIGMA_SWEEP_SHARED)`);
  return hit;
}

export interface GoldenRun {
  options: Record<string, number>;
  forward_calls: number[];
  steps: { batch: number; delta: number[][] | null; logits: number[][] | null }[];
  adversarial: number[][];
  adv_pred: number[];
  l0: number[];
  success: boolean[];
}

export interface Golden {
  model: { dense1_kernel_in_out: number[][]; dense1_bias: number[]; dense2_kernel_in_out: number[][]; dense2_bias: number[] };
  input_shape: [number, number, number, number];
  inputs: number[][];
  labels: number[];
  clean_pred: number[];
  runs: Record<'default_30' | 'star_30' | 'budget3_40', GoldenRun>;
}

export function loadGolden(): Golden {
  return JSON.parse(readFileSync(path.join(sharedDir(), 'fixtures', 'sigma-zero-golden-trace.json'), 'utf8')) as Golden;
}

export function goldenModel(g: Golden): tf.LayersModel {
  const [, h, w, c] = g.input_shape;
  const net = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [h, w, c] }),
      tf.layers.dense({ units: g.model.dense1_bias.length, activation: 'relu' }),
      tf.layers.dense({ units: g.model.dense2_bias.length }),
    ],
  });
  net.layers[1].setWeights([tf.tensor2d(g.model.dense1_kernel_in_out), tf.tensor1d(g.model.dense1_bias)]);
  net.layers[2].setWeights([tf.tensor2d(g.model.dense2_kernel_in_out), tf.tensor1d(g.model.dense2_bias)]);
  return net;
}
