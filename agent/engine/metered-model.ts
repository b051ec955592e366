/**
 * The engine's view of a model: a tfjs LayersModel behind the attack contract's Classifier,
 * counting queries the way the σ-zero evaluation does (a forward of a batch of n counts n; a
 * backward of a batch of n counts n).
 */
import * as tf from '@tensorflow/tfjs';
import type { Classifier, LossFn } from '../attacks/types.ts';

export class MeteredModel implements Classifier {
  forwards = 0;
  backwards = 0;
  readonly inputShape: [number, number, number];
  readonly numClasses: number;

  constructor(private readonly net: tf.LayersModel) {
    const shape = net.inputs[0].shape;
    if (shape.length !== 4 || shape.slice(1).some((s) => s == null)) {
      throw new Error(`model input must be NHWC with fixed H, W, C; got [${shape.join(', ')}]`);
    }
    this.inputShape = shape.slice(1) as [number, number, number];
    const out = net.outputs[0].shape;
    this.numClasses = out[out.length - 1] as number;
  }

  resetCounters(): void {
    this.forwards = 0;
    this.backwards = 0;
  }

  forward(x: tf.Tensor4D): tf.Tensor2D {
    this.forwards += x.shape[0];
    return this.net.apply(x, { training: false }) as tf.Tensor2D;
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

  private gradStep(x: tf.Tensor4D, delta: tf.Tensor4D, loss: LossFn): { logits: tf.Tensor2D; grad: tf.Tensor4D } {
    let logits: tf.Tensor2D | null = null;
    const grad = tf.grad((d: tf.Tensor) => {
      const lg = this.net.apply(tf.add(x, d), { training: false }) as tf.Tensor2D;
      logits = tf.keep(lg); // escapes the gradient tidy; the caller disposes it
      return loss(lg, d as tf.Tensor4D);
    })(delta) as tf.Tensor4D;
    return { logits: logits!, grad };
  }
}
