/**
 * Run one attack definition on a batch, the way runBatch judges it: returned inputs, a fresh
 * prediction on them, ℓ0 counted on what is returned, and the metered model's query counts.
 */
import { asNet, type Net } from '../../agent/engine/net.ts';
import * as tf from '@tensorflow/tfjs';
import { MeteredModel } from '../../agent/engine/metered-model.ts';
import type { AttackDefinition } from '../../agent/attacks/define.ts';
import { l0Of } from './linear-model.ts';

export interface AttackRun {
  adv: Float32Array;
  pred: number[];
  l0: number[];
  success: boolean[];
  forwards: number;
  backwards: number;
  diagnostics?: Record<string, number[]>;
}

export async function runDefinition(
  def: AttackDefinition,
  model: Net | tf.LayersModel,
  xs: Float32Array,
  ys: Int32Array,
  shape: [number, number, number],
  options: Record<string, unknown>,
): Promise<AttackRun> {
  const n = ys.length;
  const d = shape[0] * shape[1] * shape[2];
  const net = asNet(model);
  const m = new MeteredModel(net);
  const x = tf.tensor4d(xs, [n, ...shape]);
  const y = tf.tensor1d(ys, 'int32');
  const r = await def.run(m, x, y, options);
  const adv = Float32Array.from(await r.adversarials.data());
  const predT = tf.tidy(() => tf.argMax(net.apply(r.adversarials), 1));
  const pred = Array.from(predT.dataSync());
  tf.dispose([x, y, r.adversarials, predT]);
  const l0 = Array.from({ length: n }, (_, i) => l0Of(adv, xs, i, d));
  return { adv, pred, l0, success: pred.map((p, i) => p !== ys[i]), forwards: m.forwards, backwards: m.backwards, diagnostics: r.diagnostics };
}
