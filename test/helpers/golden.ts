/** The σ-zero golden trace (test/fixtures) and the tiny MLP it was recorded on, as tfjs objects. */
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The trace lives in the repository (test/fixtures/, with its README): a clone needs nothing beside it. */
export const GOLDEN_TRACE = path.resolve(here, '..', 'fixtures', 'sigma-zero-golden-trace.json');

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
  return JSON.parse(readFileSync(GOLDEN_TRACE, 'utf8')) as Golden;
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
