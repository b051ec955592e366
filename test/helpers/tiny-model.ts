/** Tiny LayersModel folders of any input and output shape, for tests of what the agent accepts. */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { saveLayersModelFolder } from '../../agent/models/io.ts';

export interface ModelRef {
  name: string;
  path: string;
  sha256: string;
}

/**
 * A dense model from `inputShape` (one sample, no batch axis) to `outputs` logits, saved as a model
 * folder under a fresh temporary directory; returns the task's model reference (with its sha256).
 */
export async function writeTinyModel(name: string, inputShape: number[], outputs: number): Promise<ModelRef> {
  const layers: tf.layers.Layer[] = inputShape.length > 1 ? [tf.layers.flatten({ inputShape })] : [];
  layers.push(tf.layers.dense({ units: outputs, kernelInitializer: 'zeros', ...(layers.length ? {} : { inputShape }) }));
  const net = tf.sequential({ layers });
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'sigma-tiny-model-')), name);
  const sha256 = await saveLayersModelFolder(net, dir);
  net.dispose();
  return { name, path: dir, sha256 };
}
