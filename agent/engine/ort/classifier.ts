/**
 * The ONNX Runtime engine behind the attack contract: `OrtModel` holds one model's gradient graphs
 * and their sessions (created on first use, once per model and thread, i.e. per slot);
 * `OrtClassifier` is the attacks' Classifier, counting queries exactly as MeteredModel does
 * (a forward of n samples counts n forwards, valueAndGrad n forwards and n backwards, backwardAt n
 * backwards); `ortNet` is the uncounted forward the evaluator and the shape check use.
 *
 * A step with an annotated loss (attacks/loss-head.ts) is one run of the head graph (logits and the
 * input gradient of the head term, its cotangent computed in the graph) plus tfjs for the δ-only
 * term. Any other loss takes the generic path: run the forward graph, let tfjs differentiate the
 * loss with respect to the logits and δ, run the cotangent (VJP) graph.
 *
 * Attack state stays in tfjs (NHWC); each call reads x+δ out of tfjs once, and the graphs transpose
 * to the model's layout themselves (for one-channel inputs NHWC and NCHW are the same bytes).
 */
import * as tf from '@tensorflow/tfjs';
import type { Classifier, LossFn, LossHead } from '../../attacks/types.ts';
import { headScale } from '../../attacks/loss-head.ts';
import type { Net } from '../net.ts';
import { IO, loadGradientGraphs, type GradientGraphs, type GradMode } from './grad-graph.ts';
import { DEFAULT_ADJOINTS, type AdjointOptions } from './adjoints.ts';
import { floatTensor, int64Tensor, OrtSession, type OrtTensor, type SessionOptions } from './session.ts';

/** A Classifier that meters its queries: MeteredModel (tfjs) and OrtClassifier both are one. */
export interface CountingClassifier extends Classifier {
  forwards: number;
  backwards: number;
  resetCounters(): void;
  /** one forward + input gradient of sum(logits), not counted (engine probes) */
  valueAndGradUncounted(x: tf.Tensor4D): tf.Tensor[];
}

export interface OrtModelOptions extends SessionOptions {
  adjoints?: AdjointOptions;
}


export class OrtModel {
  readonly sampleShape: [number, number, number];
  readonly numClasses: number;
  readonly graphs: GradientGraphs;
  private readonly sessions = new Map<string, OrtSession>();
  private netView: Net | null = null;

  constructor(
    bytes: Uint8Array,
    readonly options: OrtModelOptions,
  ) {
    this.graphs = loadGradientGraphs(bytes, options.adjoints ?? DEFAULT_ADJOINTS);
    this.sampleShape = this.graphs.sampleShape;
    this.numClasses = this.graphs.numClasses;
  }

  /** The session of a graph, compiled on first use. */
  session(mode: GradMode): OrtSession {
    const key = mode.kind === 'head' ? `head:${mode.head}` : mode.kind;
    let s = this.sessions.get(key);
    if (!s) {
      s = new OrtSession(this.graphs.build(mode), this.options);
      this.sessions.set(key, s);
    }
    return s;
  }

  /** Logits of an NHWC batch given as flat float32 data. */
  logits(x: Float32Array, n: number): Float32Array {
    const out = this.session({ kind: 'forward' }).run({ [IO.x]: floatTensor(x, [n, ...this.sampleShape]) });
    return out[IO.logits].data as Float32Array;
  }

  /** Logits and input gradient of scale·Σ h(logits_i, y_i), one run. */
  headStep(x: Float32Array, n: number, head: LossHead['logits'], labels: Int32Array | Float32Array, scale: number): { logits: Float32Array; grad: Float32Array } {
    const feeds: Record<string, OrtTensor> = {
      [IO.x]: floatTensor(x, [n, ...this.sampleShape]),
      [IO.labels]: int64Tensor(BigInt64Array.from(labels, (v) => BigInt(v)), [n]),
      [IO.scale]: floatTensor(Float32Array.of(scale), []),
    };
    const out = this.session({ kind: 'head', head }).run(feeds);
    return { logits: out[IO.logits].data as Float32Array, grad: out[IO.grad].data as Float32Array };
  }

  /** Input gradient of ⟨cotangent, logits⟩. */
  vjp(x: Float32Array, n: number, cotangent: Float32Array): Float32Array {
    const feeds = { [IO.x]: floatTensor(x, [n, ...this.sampleShape]), [IO.cotangent]: floatTensor(cotangent, [n, this.numClasses]) };
    return this.session({ kind: 'cotangent' }).run(feeds, [IO.grad])[IO.grad].data as Float32Array;
  }

  /** The uncounted forward as a Net (one object per model, so per-model caches keyed by it hit). */
  get net(): Net {
    this.netView ??= ortNet(this);
    return this.netView;
  }

  dispose(): void {
    for (const s of this.sessions.values()) s.dispose();
    this.sessions.clear();
  }
}

/** The uncounted forward as the engine's Net (evaluation and the shape check read it). */
export function ortNet(model: OrtModel): Net {
  return {
    format: 'onnx',
    inputShapes: [[null, ...model.sampleShape]],
    outputShapes: [[null, model.numClasses]],
    apply: (x) => {
      const n = x.shape[0];
      return tf.tensor2d(model.logits(x.dataSync() as Float32Array, n), [n, model.numClasses]);
    },
  };
}

export class OrtClassifier implements CountingClassifier {
  forwards = 0;
  backwards = 0;
  /** steps that took the one-run head path / the generic two-run path (profiling, tests) */
  headSteps = 0;
  genericSteps = 0;
  readonly inputShape: [number, number, number];
  readonly numClasses: number;

  constructor(readonly model: OrtModel) {
    this.inputShape = model.sampleShape;
    this.numClasses = model.numClasses;
  }

  resetCounters(): void {
    this.forwards = 0;
    this.backwards = 0;
  }

  forward(x: tf.Tensor4D): tf.Tensor2D {
    const n = x.shape[0];
    this.forwards += n;
    return tf.tensor2d(this.model.logits(x.dataSync() as Float32Array, n), [n, this.numClasses]);
  }

  valueAndGrad(x: tf.Tensor4D, delta: tf.Tensor4D, loss: LossFn): { logits: tf.Tensor2D; grad: tf.Tensor4D } {
    const n = x.shape[0];
    this.forwards += n;
    this.backwards += n;
    return this.step(x, delta, loss);
  }

  backwardAt(x: tf.Tensor4D, loss: LossFn): tf.Tensor4D {
    this.backwards += x.shape[0];
    const d = tf.zerosLike(x);
    const { logits, grad } = this.step(x, d, loss);
    tf.dispose([d, logits]);
    return grad;
  }

  /** One forward + input gradient of sum(logits), not counted (engine probes, not attack queries). */
  valueAndGradUncounted(x: tf.Tensor4D): tf.Tensor[] {
    const d = tf.zerosLike(x);
    const { logits, grad } = this.step(x, d, (lg) => tf.sum(lg));
    d.dispose();
    return [logits, grad];
  }

  private step(x: tf.Tensor4D, delta: tf.Tensor4D, loss: LossFn): { logits: tf.Tensor2D; grad: tf.Tensor4D } {
    const n = x.shape[0];
    const shape = x.shape;
    const xd = tf.tidy(() => tf.add(x, delta));
    const input = xd.dataSync() as Float32Array;
    xd.dispose();
    const head = loss.head;
    if (head && head.labels.shape[0] === n) {
      this.headSteps++;
      const r = this.model.headStep(input, n, head.logits, head.labels.dataSync() as Int32Array, headScale(head, n));
      const logits = tf.tensor2d(r.logits, [n, this.numClasses]);
      if (!head.delta) return { logits, grad: tf.tensor4d(r.grad, shape) };
      const deltaTerm = head.delta;
      const grad = tf.tidy(() => tf.add(tf.tensor4d(r.grad, shape), tf.grad((d: tf.Tensor) => deltaTerm(d as tf.Tensor4D))(delta)) as tf.Tensor4D);
      return { logits, grad };
    }
    this.genericSteps++;
    const logits = tf.tensor2d(this.model.logits(input, n), [n, this.numClasses]);
    // ∂loss/∂logits and the direct ∂loss/∂δ in tfjs; the zero terms keep both inputs on the tape
    // for losses that ignore one of them (tfjs refuses a gradient of an unconnected input)
    const [gLogits, gDelta] = tf.grads((lg: tf.Tensor, d: tf.Tensor) =>
      tf.addN([loss(lg as tf.Tensor2D, d as tf.Tensor4D), tf.mul(0, tf.sum(lg)), tf.mul(0, tf.sum(d))]) as tf.Scalar,
    )([logits, delta]);
    const cot = gLogits.dataSync() as Float32Array;
    gLogits.dispose();
    const vjp = this.model.vjp(input, n, cot);
    const grad = tf.tidy(() => tf.add(tf.tensor4d(vjp, shape), gDelta) as tf.Tensor4D);
    gDelta.dispose();
    return { logits, grad };
  }
}
