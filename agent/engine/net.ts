/**
 * The engine's one view of a classifier network, whatever format it came from: a pure tfjs function
 * of an NHWC batch in [0,1] to logits, with its declared input and output shapes. tfjs LayersModel
 * folders (agent/models/io.ts) and ONNX graphs (agent/models/onnx/) both load to a Net; the metered
 * Classifier, the shape check against a dataset and the evaluator only ever see this.
 */
import type * as tf from '@tensorflow/tfjs';

export interface Net {
  /** the format it was loaded from, for messages and result rows */
  readonly format: 'tfjs-layers' | 'onnx';
  /** declared input shapes, batch first (null = any); a usable net has one [null, H, W, C] input */
  readonly inputShapes: ReadonlyArray<ReadonlyArray<number | null>>;
  /** declared output shapes; a usable net has one [null, classes] output */
  readonly outputShapes: ReadonlyArray<ReadonlyArray<number | null>>;
  /**
   * the value range the model expects; the engine always feeds [0,1] and the net maps it (ONNX
   * metadata `sigma_sweep.input_range`); 'assumed' when the model does not say
   */
  readonly inputRange?: { min: number; max: number; source: 'metadata' | 'assumed' };
  /** logits of an NHWC batch (inference semantics: no dropout, batch-norm with running statistics) */
  apply(x: tf.Tensor4D): tf.Tensor2D;
}

/** A tfjs LayersModel as a Net. */
export function layersNet(model: tf.LayersModel): Net {
  return {
    format: 'tfjs-layers',
    inputShapes: model.inputs.map((i) => i.shape),
    outputShapes: model.outputs.map((o) => o.shape),
    apply: (x) => model.apply(x, { training: false }) as tf.Tensor2D,
  };
}

/** Accept either a Net or a LayersModel (tests and tools build LayersModels directly). */
export function asNet(m: Net | tf.LayersModel): Net {
  return 'apply' in m && 'format' in m ? (m as Net) : layersNet(m as tf.LayersModel);
}
