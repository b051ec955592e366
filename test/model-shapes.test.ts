/**
 * A model must fit its dataset: one [batch, H, W, C] input of the dataset's sample shape and one
 * [batch, classes] output. Anything else is refused by runTask, permanently, before any attack work
 * (a 5-logit model on MNIST used to report "ASR 100, ℓ0 0" and succeed).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { selectBackend } from '../agent/engine/backend.ts';
import { MeteredModel, ModelShapeError } from '../agent/engine/metered-model.ts';
import { loadTaskModel } from '../agent/models/load.ts';
import { PermanentTaskError, runTask } from '../agent/run-task.ts';
import { isPermanent } from '../schema/errors.ts';
import type { Task } from '../schema/wire.ts';
import { SMALLCNN, smallCnnTask } from './helpers/zoo.ts';
import { writeTinyModel, type ModelRef } from './helpers/tiny-model.ts';

beforeAll(async () => {
  await selectBackend('wasm');
});

/** A σ-zero task on MNIST test images 0..3 with `model`. */
function taskWith(model: ModelRef): Task {
  return smallCnnTask({ key: model.name.padEnd(32, 'k'), sweepId: 'shapes', model, sampleIndices: [0, 1, 2, 3], steps: 2 });
}

/** runTask's rejection of `model`, and how many times the model was applied (forwards, probes, attacks). */
async function rejection(model: ModelRef): Promise<{ err: Error; applied: number }> {
  const net = await loadTaskModel(model); // the same cached instance the task will use
  const apply = vi.spyOn(net, 'apply');
  const err = await runTask(taskWith(model), { backend: 'wasm' }).then(
    () => new Error('runTask resolved'),
    (e: unknown) => e as Error,
  );
  const applied = apply.mock.calls.length;
  apply.mockRestore();
  return { err, applied };
}

describe('model shapes against the dataset', () => {
  it.each([
    ['five-logits', [28, 28, 1], 5, 'model five-logits outputs [batch, 5] but dataset mnist has 10 classes (expected [batch, 10])'],
    ['imagenet-logits', [28, 28, 1], 1000, 'model imagenet-logits outputs [batch, 1000] but dataset mnist has 10 classes (expected [batch, 10])'],
    ['rgb-input', [28, 28, 3], 10, 'model rgb-input expects [batch, 28, 28, 3] inputs but dataset mnist has [batch, 28, 28, 1] samples'],
    ['flat-input', [784], 10, 'model flat-input expects [batch, 784] inputs but dataset mnist has [batch, 28, 28, 1] samples'],
  ])('%s (input %j, %i outputs) is refused permanently before any attack work', async (name, inputShape, outputs, message) => {
    const { err, applied } = await rejection(await writeTinyModel(name, inputShape, outputs));
    expect(err.message).toBe(message);
    expect(err).toBeInstanceOf(PermanentTaskError);
    expect(isPermanent(err)).toBe(true);
    expect(applied).toBe(0);
  });

  it('a model of the right shapes still runs (the check refuses only misfits)', async () => {
    const model = await writeTinyModel('ten-logits', [28, 28, 1], 10);
    const r = await runTask(taskWith(model), { backend: 'wasm' });
    expect(r.samples.map((s) => s.datasetIndex)).toEqual([0, 1, 2, 3]);
  });

  it('MeteredModel refuses non-NHWC inputs and non-[batch, classes] outputs with a permanent error', async () => {
    const flat = tf.sequential({ layers: [tf.layers.dense({ units: 10, inputShape: [784] })] });
    const threeD = tf.sequential({ layers: [tf.layers.reshape({ targetShape: [392, 2], inputShape: [28, 28, 1] }), tf.layers.dense({ units: 1 })] });
    for (const [net, message] of [
      [flat, 'model input must be one NHWC tensor with fixed H, W, C; got [batch, 784]'],
      [threeD, 'model output must be one [batch, classes] tensor; got [batch, 392, 1]'],
    ] as const) {
      const err = (() => {
        try {
          new MeteredModel(net);
        } catch (e) {
          return e as Error;
        }
        return new Error('constructed');
      })();
      expect(err).toBeInstanceOf(ModelShapeError);
      expect(err.message).toBe(message);
      expect(isPermanent(err)).toBe(true);
      net.dispose();
    }
  });

  it('a fixed budget beyond the input that reaches a task is refused permanently, before loading the model', async () => {
    const task = smallCnnTask({ key: 'b'.repeat(32), sweepId: 'budget', sampleIndices: [0], steps: 1, attack: { label: 'pgd-l0', name: 'pgd-l0', options: { k: 1e9 } } });
    const net = await loadTaskModel(SMALLCNN);
    const apply = vi.spyOn(net, 'apply');
    const err = await runTask(task, { backend: 'wasm' }).then(
      () => new Error('runTask resolved'),
      (e: unknown) => e as Error,
    );
    const applied = apply.mock.calls.length;
    apply.mockRestore();
    expect(err.message).toBe('attack pgd-l0: k 1000000000 exceeds the 784 pixels of mnist');
    expect(isPermanent(err)).toBe(true);
    expect(applied).toBe(0);
  });
});
