/**
 * A tfjs LayersModel written as an ONNX graph (onnx-proto), so the zoo's tfjs models get twins the
 * ONNX Runtime engine can run. The twin takes NCHW input, as PyTorch exports do, and computes the
 * same function:
 * - kernels transposed once: Conv2D [kh, kw, cin, cout] → [cout, cin, kh, kw]; Dense [in, out] is a
 *   Gemm's B as is;
 * - 'same' padding written as the explicit (begin ≤ end) pads TensorFlow uses;
 * - Flatten of a rank-4 tensor transposes NCHW → NHWC first: tfjs flattens (h, w, c) and the Dense
 *   weights after it are ordered that way;
 * - channel axis −1 (BatchNormalization, Concatenate, softmax) becomes axis 1 for rank-4 tensors.
 * Supported layers: InputLayer, Conv2D, Dense, Flatten, MaxPooling2D, AveragePooling2D,
 * GlobalAveragePooling2D, BatchNormalization, ReLU, Activation, Add, Concatenate, Dropout,
 * ZeroPadding2D; activations linear, relu, relu6, sigmoid, tanh, softmax, elu, softplus. Anything
 * else throws naming the layer and its class.
 */
import type * as tf from '@tensorflow/tfjs';
import { DT, encodeModel, GraphWriter, valueInfo, type AttrValue } from '../../engine/ort/onnx.ts';

export class OnnxExportError extends Error {
  constructor(layer: string, cls: string, detail: string) {
    super(`cannot write layer '${layer}' (${cls}) as ONNX: ${detail}`);
    this.name = 'OnnxExportError';
  }
}

export const EXPORT_OPSET = 17;
export const INPUT_NAME = 'input';
export const OUTPUT_NAME = 'logits';

interface SymbolicLike {
  id: number;
  shape: Array<number | null>;
}

type LayerConfig = Record<string, unknown>;

const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [v[0], v[1] ?? v[0]] : [v as number, v as number]);

/** TensorFlow's 'same' padding of one spatial axis: total = max((out−1)·s + (k−1)·d + 1 − in, 0), begin = ⌊total/2⌋. */
function samePads(inSize: number, k: number, s: number, d: number): [number, number] {
  const out = Math.ceil(inSize / s);
  const total = Math.max((out - 1) * s + (k - 1) * d + 1 - inSize, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** Transpose a [kh, kw, cin, cout] kernel to [cout, cin, kh, kw]. */
export function convKernel(k: Float32Array, [kh, kw, cin, cout]: number[]): Float32Array {
  const out = new Float32Array(k.length);
  for (let a = 0; a < kh; a++)
    for (let b = 0; b < kw; b++)
      for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) out[((o * cin + i) * kh + a) * kw + b] = k[((a * kw + b) * cin + i) * cout + o];
  return out;
}

export function exportLayersModel(model: tf.LayersModel, name = model.name): Uint8Array {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) throw new OnnxExportError(model.name, model.getClassName(), 'one input and one output only');
  const w = new GraphWriter('');
  const names = new Map<number, string>();
  const input = model.inputs[0] as unknown as SymbolicLike;
  const inShape = input.shape;
  if (inShape.length !== 4) throw new OnnxExportError(model.name, model.getClassName(), `input of rank ${inShape.length} (images [batch, H, W, C] only)`);
  const [, H, W, C] = inShape as number[];
  names.set(input.id, INPUT_NAME);

  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls === 'InputLayer') continue;
    const ins = ([] as SymbolicLike[]).concat(layer.input as unknown as SymbolicLike | SymbolicLike[]);
    const out = layer.output as unknown as SymbolicLike;
    const inNames = ins.map((t) => {
      const n = names.get(t.id);
      if (!n) throw new OnnxExportError(layer.name, cls, 'an input that is not produced before it (unsupported topology)');
      return n;
    });
    const cfg = layer.getConfig() as LayerConfig;
    const fail = (detail: string): never => {
      throw new OnnxExportError(layer.name, cls, detail);
    };
    const weights = layer.getWeights().map((t) => ({ shape: t.shape, data: t.dataSync() as Float32Array }));
    const rank = ins[0].shape.length;
    const channelsLast = () => {
      if (cfg.dataFormat !== undefined && cfg.dataFormat !== 'channelsLast') fail(`dataFormat ${String(cfg.dataFormat)}`);
    };
    const activation = (x: string, act: unknown, r: number): string => {
      switch (act ?? 'linear') {
        case 'linear':
          return x;
        case 'relu':
          return w.op1('Relu', [x]);
        case 'relu6':
          return w.op1('Clip', [x, w.scalarF(0), w.scalarF(6)]);
        case 'sigmoid':
          return w.op1('Sigmoid', [x]);
        case 'tanh':
          return w.op1('Tanh', [x]);
        case 'elu':
          return w.op1('Elu', [x], { alpha: { float: 1 } });
        case 'softplus':
          return w.op1('Softplus', [x]);
        case 'softmax':
          return w.op1('Softmax', [x], { axis: r === 4 ? 1 : -1 });
        default:
          return fail(`activation ${String(act)}`);
      }
    };
    let y: string;
    switch (cls) {
      case 'Conv2D': {
        channelsLast();
        const [kh, kw, cin, cout] = weights[0].shape;
        const [sh, sw] = pair(cfg.strides ?? 1);
        const [dh, dw] = pair(cfg.dilationRate ?? 1);
        const [ih, iw] = ins[0].shape.slice(1, 3) as number[];
        let pads = [0, 0, 0, 0];
        if (cfg.padding === 'same') {
          const ph = samePads(ih, kh, sh, dh);
          const pw = samePads(iw, kw, sw, dw);
          pads = [ph[0], pw[0], ph[1], pw[1]];
        } else if (cfg.padding !== 'valid') fail(`padding ${String(cfg.padding)}`);
        const k = w.constF(convKernel(weights[0].data, weights[0].shape), [cout, cin, kh, kw]);
        const inputs = [inNames[0], k];
        if (cfg.useBias !== false && weights[1]) inputs.push(w.constF(weights[1].data, [cout]));
        const conv = w.op1('Conv', inputs, { kernel_shape: [kh, kw], strides: [sh, sw], dilations: [dh, dw], pads, group: 1 });
        y = activation(conv, cfg.activation, 4);
        break;
      }
      case 'Dense': {
        if (rank !== 2) fail(`input of rank ${rank} (Dense after Flatten only)`);
        const [din, dout] = weights[0].shape;
        const inputs = [inNames[0], w.constF(weights[0].data, [din, dout])];
        if (cfg.useBias !== false && weights[1]) inputs.push(w.constF(weights[1].data, [dout]));
        y = activation(w.op1('Gemm', inputs), cfg.activation, 2);
        break;
      }
      case 'Flatten': {
        // tfjs flattens NHWC: (h, w, c) order
        const x = rank === 4 ? w.op1('Transpose', [inNames[0]], { perm: [0, 2, 3, 1] }) : inNames[0];
        y = w.op1('Flatten', [x], { axis: 1 });
        break;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        channelsLast();
        const [kh, kw] = pair(cfg.poolSize);
        const [sh, sw] = pair(cfg.strides ?? cfg.poolSize);
        const [ih, iw] = ins[0].shape.slice(1, 3) as number[];
        let pads = [0, 0, 0, 0];
        if (cfg.padding === 'same') {
          const ph = samePads(ih, kh, sh, 1);
          const pw = samePads(iw, kw, sw, 1);
          pads = [ph[0], pw[0], ph[1], pw[1]];
        } else if (cfg.padding !== 'valid') fail(`padding ${String(cfg.padding)}`);
        const attrs: Record<string, AttrValue> = { kernel_shape: [kh, kw], strides: [sh, sw], pads };
        // TensorFlow's 'same' average excludes the padding from each window's count
        if (cls === 'AveragePooling2D') attrs.count_include_pad = 0;
        y = w.op1(cls === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', [inNames[0]], attrs);
        break;
      }
      case 'GlobalAveragePooling2D':
        channelsLast();
        if (cfg.keepDims) fail('keepDims');
        y = w.op1('Flatten', [w.op1('GlobalAveragePool', [inNames[0]])], { axis: 1 });
        break;
      case 'BatchNormalization': {
        const axis = (cfg.axis as number) ?? -1;
        if (axis !== -1 && axis !== rank - 1) fail(`axis ${axis} (the channel axis only)`);
        const ch = ins[0].shape[rank - 1] as number;
        let i = 0;
        const gamma = cfg.scale !== false ? weights[i++].data : new Float32Array(ch).fill(1);
        const beta = cfg.center !== false ? weights[i++].data : new Float32Array(ch);
        const mean = weights[i++].data;
        const variance = weights[i++].data;
        y = w.op1('BatchNormalization', [inNames[0], w.constF(gamma), w.constF(beta), w.constF(mean), w.constF(variance)], {
          epsilon: { float: (cfg.epsilon as number) ?? 1e-3 },
        });
        break;
      }
      case 'ReLU': {
        const max = cfg.maxValue as number | null | undefined;
        y = max == null ? w.op1('Relu', [inNames[0]]) : w.op1('Clip', [inNames[0], w.scalarF(0), w.scalarF(max)]);
        break;
      }
      case 'Activation':
        y = activation(inNames[0], cfg.activation, rank);
        break;
      case 'Add':
        y = inNames.length === 2 ? w.op1('Add', inNames) : w.op1('Sum', inNames);
        break;
      case 'Concatenate': {
        const axis = (cfg.axis as number) ?? -1;
        if (axis !== -1 && axis !== rank - 1) fail(`axis ${axis} (the channel axis only)`);
        y = w.op1('Concat', inNames, { axis: rank === 4 ? 1 : -1 });
        break;
      }
      case 'Dropout':
        y = w.op1('Identity', [inNames[0]]);
        break;
      case 'ZeroPadding2D': {
        channelsLast();
        const p = cfg.padding as number[][];
        y = w.op1('Pad', [inNames[0], w.constI64([0, 0, p[0][0], p[1][0], 0, 0, p[0][1], p[1][1]])], { mode: 'constant' });
        break;
      }
      default:
        return fail('no ONNX writer for this layer class');
    }
    names.set(out.id, y);
  }

  const outSym = model.outputs[0] as unknown as SymbolicLike;
  const last = names.get(outSym.id);
  if (!last) throw new OnnxExportError(model.name, model.getClassName(), 'the output is not produced');
  if (outSym.shape.length !== 2) throw new OnnxExportError(model.name, model.getClassName(), `output of rank ${outSym.shape.length} (logits [batch, classes] only)`);
  w.op('Identity', [last], {}, [OUTPUT_NAME]);
  return encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: '', version: EXPORT_OPSET }],
    producerName: 'sigma-sweep onnx-export',
    graph: {
      name,
      node: w.nodes,
      initializer: w.initializers,
      input: [valueInfo(INPUT_NAME, DT.FLOAT, ['batch', C, H, W])],
      output: [valueInfo(OUTPUT_NAME, DT.FLOAT, ['batch', outSym.shape[1] as number])],
    },
  });
}
