/**
 * The engine's view of a model: a tfjs LayersModel behind the attack contract's Classifier,
 * counting queries the way the σ-zero evaluation does (a forward of a batch of n counts n; a
 * backward of a batch of n counts n).
 */
import * as tf from '@tensorflow/tfjs';
import type { Classifier, LossFn } from '../attacks/types.ts';
import { PermanentError } from '../../schema/errors.ts';
import { asNet, type Net } from './net.ts';

/** A model whose input or output shape the engine cannot use: retrying cannot help. */
export class ModelShapeError extends PermanentError {
  constructor(message: string) {
    super(message);
    this.name = 'ModelShapeError';
  }
}

/** A layer shape as messages write it: `[batch, 28, 28, 1]`. */
export function formatShape(shape: ReadonlyArray<number | null>): string {
  return `[${shape.map((s) => s ?? 'batch').join(', ')}]`;
}

export class MeteredModel implements Classifier {
  forwards = 0;
  backwards = 0;
  readonly inputShape: [number, number, number];
  readonly numClasses: number;

  private readonly net: Net;

  constructor(model: Net | tf.LayersModel) {
    const net = (this.net = asNet(model));
    const shape = net.inputShapes[0];
    if (net.inputShapes.length !== 1 || shape.length !== 4 || shape.slice(1).some((s) => s == null)) {
      throw new ModelShapeError(`model input must be one NHWC tensor with fixed H, W, C; got ${net.inputShapes.map(formatShape).join(', ')}`);
    }
    this.inputShape = shape.slice(1) as [number, number, number];
    const out = net.outputShapes[0];
    if (net.outputShapes.length !== 1 || out.length !== 2 || out[1] == null) {
      throw new ModelShapeError(`model output must be one [batch, classes] tensor; got ${net.outputShapes.map(formatShape).join(', ')}`);
    }
    this.numClasses = out[1];
  }

  resetCounters(): void {
    this.forwards = 0;
    this.backwards = 0;
  }

  forward(x: tf.Tensor4D): tf.Tensor2D {
    this.forwards += x.shape[0];
    return this.net.apply(x);
  }

  /** One forward + input gradient of sum(logits), not counted (engine probes, not attack queries). */
  valueAndGradUncounted(x: tf.Tensor4D): tf.Tensor[] {
    const d = tf.zerosLike(x);
    const { logits, grad } = this.gradStep(x, d, (lg) => tf.sum(lg));
    d.dispose();
    return [logits, grad];
  }

  valueAndGrad(x: tf.Tensor4D, delta: tf.Tensor4D, loss: LossFn): { logits: tf.Tensor2D; grad: tf.Tensor4D } {
    const n = x.shape[0];
    this.forwards += n;
    this.backwards += n;
    return this.gradStep(x, delta, loss);
  }

  backwardAt(x: tf.Tensor4D, loss: LossFn): tf.Tensor4D {
    this.backwards += x.shape[0];
    const d = tf.zerosLike(x);
    const { logits, grad } = this.gradStep(x, d, loss);
    tf.dispose([d, logits]);
    return grad;
  }

  private gradStep(x: tf.Tensor4D, delta: tf.Tensor4D, loss: LossFn): { logits: tf.Tensor2D; grad: tf.Tensor4D } {
    let logits: tf.Tensor2D | null = null;
    const grad = tf.grad((d: tf.Tensor) => {
      const lg = this.net.apply(tf.add(x, d) as tf.Tensor4D);
      logits = tf.keep(lg); // escapes the gradient tidy; the caller disposes it
      return loss(lg, d as tf.Tensor4D);
    })(delta) as tf.Tensor4D;
    return { logits: logits!, grad };
  }
}
