/**
 * Input gradients without filter gradients through convolutions with linear activation.
 *
 * tfjs-layers runs every 2-D convolution through tf.fused.conv2d. In gradient mode a conv with a
 * non-linear activation falls back to plain conv2d (whose gradient computes only what is asked
 * for), but a LINEAR one (conv → BatchNorm in every ResNet) stays fused, and the fused op's custom
 * gradient always computes the filter gradient (and the bias gradient) along with the input
 * gradient: on a ResNet-18 that is a third of the backward pass, thrown away by an attack.
 *
 * prepareForInputGradients(model) makes such layers compute conv2d (+ bias add) instead while a
 * gradient is being taken; outside gradient mode (evaluation forwards) they run exactly as stock.
 * Without bias (ResNets) the forward values are bit-identical (the same convolution kernel); with
 * a bias the add happens after the convolution instead of inside it, as tfjs itself does in
 * gradient mode for convolutions with a ReLU. Layers other than 2-D channels-last convolutions
 * with 'same'/'valid' padding are left alone. Idempotent.
 */
import * as tf from '@tensorflow/tfjs';

interface ConvLayerInternals {
  getClassName(): string;
  activation?: { getClassName(): string };
  rank?: number;
  dataFormat?: string;
  padding?: string;
  strides?: number[];
  dilationRate?: number[];
  kernel?: { read(): tf.Tensor };
  bias?: { read(): tf.Tensor } | null;
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[];
  layers?: ConvLayerInternals[];
}

const prepared = new WeakSet<object>();

function patchLayer(layer: ConvLayerInternals): boolean {
  if (layer.getClassName() !== 'Conv2D' || layer.activation?.getClassName() !== 'linear') return false;
  if (layer.rank !== 2 || layer.dataFormat !== 'channelsLast' || (layer.padding !== 'same' && layer.padding !== 'valid')) return false;
  const stockCall = layer.call.bind(layer);
  const { strides, dilationRate } = layer as Required<ConvLayerInternals>;
  const padding = layer.padding as 'same' | 'valid';
  layer.call = (inputs, kwargs) => {
    if (tf.engine().state.gradientDepth === 0) return stockCall(inputs, kwargs);
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      let y: tf.Tensor = tf.conv2d(x, layer.kernel!.read() as tf.Tensor4D, strides as [number, number], padding, 'NHWC', dilationRate as [number, number]);
      if (layer.bias) y = tf.add(y, layer.bias.read());
      return y;
    });
  };
  return true;
}

/** Patch the model's linear convolutions (nested models included); returns how many were patched. */
export function prepareForInputGradients(model: tf.LayersModel): number {
  if (prepared.has(model)) return 0;
  prepared.add(model);
  let n = 0;
  const visit = (layers: ConvLayerInternals[]) => {
    for (const l of layers) {
      if (l.layers) visit(l.layers);
      else if (patchLayer(l)) n++;
    }
  };
  visit(model.layers as unknown as ConvLayerInternals[]);
  return n;
}
