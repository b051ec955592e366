/**
 * The imported Net in the engine (wasm backend, the engine's overrides on):
 * - an exact ONNX copy of the hand-built tfjs CIFAR ResNet-18 (narrow; tfLayersToOnnx writes
 *   PyTorch's weight layouts and tfjs's asymmetric 'same' paddings) gives the tfjs model's logits
 *   and input gradients;
 * - a valueAndGrad step (MeteredModel, as attacks take it) runs the same fast input-gradient path as
 *   the hand-built model: the kernel trace has no Conv2DBackpropFilter, Conv2DBackpropInput or Tile
 *   and as many Conv2D kernels as the tfjs model's step; a net with depthwise, dilated and
 *   overlapping-pool layers runs no backprop kernels either;
 * - the contract: shapes, the input range from metadata, fixed-batch exports, BatchNorm and
 *   constant folding, no tensors left behind.
 */
import * as tf from '@tensorflow/tfjs';
import onnxPkg from 'onnx-proto';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../agent/engine/backend.ts';
import { prepareForInputGradients } from '../agent/engine/linear-conv.ts';
import { MeteredModel } from '../agent/engine/metered-model.ts';
import { layersNet, type Net } from '../agent/engine/net.ts';
import { onnxNetFromBytes, type OnnxNet } from '../agent/models/onnx/load.ts';
import { buildResNet18 } from '../agent/models/resnet18.ts';
import type { LossFn } from '../agent/attacks/types.ts';
import { buildModel, float, modelProto, randomValues, tfLayersToOnnx, type NodeSpec } from './helpers/onnx-build.ts';

const { onnx } = onnxPkg;
const FORBIDDEN = ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'DepthwiseConv2dNativeBackpropInput', 'DepthwiseConv2dNativeBackpropFilter', 'Tile', 'MirrorPad', 'UnsortedSegmentSum'];

const maxLogit: LossFn = ((lg: tf.Tensor2D) => tf.sum(tf.max(lg, 1))) as LossFn;

/** Kernel names (with counts) of one valueAndGrad step, after a warm-up step. */
async function stepKernels(net: Net, x: tf.Tensor4D): Promise<Map<string, number>> {
  const m = new MeteredModel(net);
  const d = tf.zerosLike(x);
  const step = () => {
    const r = m.valueAndGrad(x, d, maxLogit);
    tf.dispose([r.logits, r.grad]);
  };
  step();
  const prof = await tf.profile(step);
  d.dispose();
  const counts = new Map<string, number>();
  for (const k of prof.kernels) counts.set(k.name, (counts.get(k.name) ?? 0) + 1);
  return counts;
}

function gradOf(net: Net, x: tf.Tensor4D): tf.Tensor4D {
  return tf.grad((xx: tf.Tensor) => tf.sum(tf.max(net.apply(xx as tf.Tensor4D), 1)))(x) as tf.Tensor4D;
}

function relErr(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] / Math.max(1e-30, tf.max(tf.abs(b)).dataSync()[0]));
}

beforeAll(async () => {
  await selectBackend('wasm');
});

describe('imported ResNet-18 against the hand-built tfjs ResNet-18', () => {
  let reference: Net;
  let net: OnnxNet;
  let x: tf.Tensor4D;
  beforeAll(async () => {
    await selectBackend('wasm'); // built and loaded on the backend that runs them
    const tfModel = buildResNet18(3, 10, 8);
    prepareForInputGradients(tfModel);
    reference = layersNet(tfModel);
    net = onnxNetFromBytes(tfLayersToOnnx(tfModel), 'resnet18-w8.onnx');
    x = tf.randomUniform([4, 32, 32, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
  });

  it('declares the NHWC contract and folds every BatchNorm into its Conv', () => {
    expect(net.inputShapes).toEqual([[null, 32, 32, 3]]);
    expect(net.outputShapes).toEqual([[null, 10]]);
    expect(net.inputRange).toEqual({ min: 0, max: 1, source: 'assumed' });
    expect(new MeteredModel(net).inputShape).toEqual([32, 32, 3]);
    // 20 convs + 17 relus + 8 adds + pool + flatten + gemm; no BatchNormalization left
    expect(net.runtimeNodes).toBe(48);
  });

  it('gives the same logits and input gradients', () => {
    tf.tidy(() => {
      expect(relErr(net.apply(x), reference.apply(x))).toBeLessThan(1e-5);
      expect(relErr(gradOf(net, x), gradOf(reference, x))).toBeLessThan(1e-4);
    });
  });

  it('takes the fast input-gradient path: no backprop or Tile kernels, as many Conv2D as the tfjs step', async () => {
    const ours = await stepKernels(net, x);
    const theirs = await stepKernels(reference, x);
    for (const k of FORBIDDEN) expect(ours.get(k) ?? 0, k).toBe(0);
    // forward convolutions + the input-gradient convolutions (stride-2 ones by residue class)
    expect(ours.get('Conv2D')).toBe(theirs.get('Conv2D'));
    expect(ours.get('Conv2D')).toBeGreaterThan(20);
  });

  it('leaves no tensors behind', () => {
    const before = tf.memory().numTensors;
    tf.tidy(() => net.apply(x)).dispose();
    const g = gradOf(net, x);
    g.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('layers with their own input gradients', () => {
  // depthwise (multiplier 2, stride 2), dilated conv, overlapping max pool, reflect pad, grouped conv
  const nodes: NodeSpec[] = [
    { op: 'Pad', inputs: ['x', 'pads'], outputs: ['p'], attrs: { mode: 'reflect' } },
    { op: 'Conv', inputs: ['p', 'dw'], outputs: ['a'], attrs: { group: 3, strides: [2, 2], pads: [1, 1, 1, 1] } },
    { op: 'Relu', inputs: ['a'], outputs: ['ar'] },
    { op: 'Conv', inputs: ['ar', 'dil'], outputs: ['b'], attrs: { dilations: [2, 2], pads: [2, 2, 2, 2] } },
    { op: 'MaxPool', inputs: ['b'], outputs: ['c'], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } },
    { op: 'Conv', inputs: ['c', 'grp'], outputs: ['d'], attrs: { group: 2 } },
    { op: 'GlobalAveragePool', inputs: ['d'], outputs: ['e'] },
    { op: 'Flatten', inputs: ['e'], outputs: ['f'] },
    { op: 'Gemm', inputs: ['f', 'fc'], outputs: ['y'], attrs: { transB: 1 } },
  ];
  const bytes = buildModel({
    nodes,
    inputs: [{ name: 'x', dims: ['N', 3, 16, 16] }],
    outputs: [{ name: 'y' }],
    initializers: [
      { name: 'pads', dims: [8], data: [0, 0, 1, 1, 0, 0, 1, 1], dtype: 'int64' },
      { name: 'dw', dims: [6, 1, 3, 3], data: randomValues(54, 1) },
      { name: 'dil', dims: [8, 6, 3, 3], data: randomValues(432, 2) },
      { name: 'grp', dims: [4, 4, 1, 1], data: randomValues(16, 3) },
      { name: 'fc', dims: [5, 4], data: randomValues(20, 4) },
    ],
  });

  it('run no backprop, Tile or MirrorPad kernels in a step', async () => {
    const net = onnxNetFromBytes(bytes, 'mixed.onnx');
    const x = tf.randomUniform([3, 16, 16, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
    const k = await stepKernels(net, x);
    for (const f of FORBIDDEN) expect(k.get(f) ?? 0, f).toBe(0);
    expect(k.get('DepthwiseConv2dNative')).toBeGreaterThanOrEqual(2); // forward + its input gradient
    x.dispose();
  });
});

describe('the classifier contract', () => {
  const fcNodes: NodeSpec[] = [
    { op: 'Flatten', inputs: ['x'], outputs: ['f'] },
    { op: 'Gemm', inputs: ['f', 'fc', 'b'], outputs: ['y'], attrs: { transB: 1, alpha: float(1) } },
  ];
  const inits = [
    { name: 'fc', dims: [5, 48], data: randomValues(240, 3) },
    { name: 'b', dims: [5], data: randomValues(5, 4) },
  ];

  it('honours sigma_sweep.input_range by scaling the [0, 1] input', () => {
    const plainNet = onnxNetFromBytes(buildModel({ nodes: fcNodes, inputs: [{ name: 'x', dims: ['N', 3, 4, 4] }], outputs: [{ name: 'y' }], initializers: inits }), 'a.onnx');
    const m = modelProto({ nodes: fcNodes, inputs: [{ name: 'x', dims: ['N', 3, 4, 4] }], outputs: [{ name: 'y' }], initializers: inits, metadata: { 'sigma_sweep.input_range': '0, 255' } });
    const scaled = onnxNetFromBytes(onnx.ModelProto.encode(m).finish(), 'b.onnx');
    expect(scaled.inputRange).toEqual({ min: 0, max: 255, source: 'metadata' });
    tf.tidy(() => {
      const x = tf.randomUniform([2, 4, 4, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
      expect(relErr(scaled.apply(x), plainNet.apply(tf.mul(x, 255) as tf.Tensor4D))).toBeLessThan(1e-6);
    });
  });

  it('runs a graph exported with a fixed batch of 1 (reshape [1, -1]) on any batch, sample by sample', () => {
    const net = onnxNetFromBytes(
      buildModel({
        nodes: [
          { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
          { op: 'Reshape', inputs: ['c', 'shape'], outputs: ['f'] },
          { op: 'Gemm', inputs: ['f', 'fc', 'b'], outputs: ['y'], attrs: { transB: 1 } },
        ],
        inputs: [{ name: 'x', dims: [1, 3, 4, 4] }],
        outputs: [{ name: 'y', dims: [1, 5] }],
        initializers: [
          { name: 'w', dims: [3, 3, 3, 3], data: randomValues(81, 5) },
          { name: 'shape', dims: [2], data: [1, -1], dtype: 'int64' },
          ...inits,
        ],
      }),
      'fixed.onnx',
    );
    expect(net.inputShapes).toEqual([[null, 4, 4, 3]]);
    tf.tidy(() => {
      const x = tf.randomUniform([3, 4, 4, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
      const all = net.apply(x);
      expect(all.shape).toEqual([3, 5]);
      for (let i = 0; i < 3; i++) expect(relErr(tf.slice(all, [i, 0], [1, 5]), net.apply(tf.slice(x, [i, 0, 0, 0], [1, 4, 4, 3])))).toBeLessThan(1e-6);
    });
  });

  it("folds PyTorch's shape arithmetic at load and keeps only the dynamic nodes", () => {
    const net = onnxNetFromBytes(
      buildModel({
        nodes: [
          { op: 'Constant', inputs: [], outputs: ['minus1'], attrs: { value: { tensor: { dims: [1], data: [-1], dtype: 'int64' } } } },
          { op: 'Constant', inputs: [], outputs: ['axes0'], attrs: { value: { tensor: { dims: [1], data: [0], dtype: 'int64' } } } },
          { op: 'Shape', inputs: ['x'], outputs: ['s'] },
          { op: 'Gather', inputs: ['s', 'zero'], outputs: ['n'], attrs: { axis: 0 } },
          { op: 'Unsqueeze', inputs: ['n', 'axes0'], outputs: ['n1'] },
          { op: 'Concat', inputs: ['n1', 'minus1'], outputs: ['shape'], attrs: { axis: 0 } },
          { op: 'Reshape', inputs: ['x', 'shape'], outputs: ['f'] },
          { op: 'Gemm', inputs: ['f', 'fc', 'b'], outputs: ['y'], attrs: { transB: 1 } },
        ],
        inputs: [{ name: 'x', dims: ['batch', 3, 4, 4] }],
        outputs: [{ name: 'y' }],
        initializers: [{ name: 'zero', dims: [], data: [0], dtype: 'int64' }, ...inits],
      }),
      'view.onnx',
    );
    expect(net.foldedNodes).toBe(2); // the Constants
    expect(net.runtimeNodes).toBe(6); // Shape → … → Concat run once per batch size, Reshape and Gemm per forward
    const flat = onnxNetFromBytes(buildModel({ nodes: fcNodes, inputs: [{ name: 'x', dims: ['N', 3, 4, 4] }], outputs: [{ name: 'y' }], initializers: inits }), 'flat.onnx');
    tf.tidy(() => {
      const x = tf.randomUniform([2, 4, 4, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
      expect(relErr(net.apply(x), flat.apply(x))).toBe(0);
    });
  });
});
