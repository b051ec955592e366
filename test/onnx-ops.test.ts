/**
 * The importer's ops, one small graph at a time (test/helpers/onnx-build.ts), against
 * onnxruntime-node (the ONNX reference runtime) on the same inputs:
 *
 * - values: every float graph input of rank 4 is fed both in the logical order and NHWC-held (the
 *   way activations flow in a CNN), so each op's layout handling (axis mapping, the transposes
 *   before Flatten / Reshape, per-channel constants) is checked against the NCHW semantics;
 *   |ours − ort| ≤ 2e-5 · max(1, |ort|);
 * - input gradients: of L = Σ r ⊙ y (fixed random r) with respect to every float graph input,
 *   equal in both layouts, and equal to a central finite difference of L computed with
 *   onnxruntime along a random direction (step 1e-3·v: a check of each gradient that does not
 *   trust tfjs; 1 % of the derivative's scale).
 *
 * Runs on the wasm backend with the engine's overrides (what agents use).
 */
import * as tf from '@tensorflow/tfjs';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../agent/engine/backend.ts';
import { compileOnnx, decodeOnnx } from '../agent/models/onnx/load.ts';
import { nhwcHeld, plain, toPlain, type Held } from '../agent/models/onnx/layout.ts';
import { buildModel, float, oneNode, randomValues, type AttrValue, type DType, type ModelSpec } from './helpers/onnx-build.ts';

interface In {
  dims: number[];
  data: ArrayLike<number>;
  dtype?: DType;
  /** an initializer instead of a graph input */
  init?: boolean;
}

interface Case {
  name: string;
  model: Uint8Array;
  /** graph inputs by name */
  feeds: Record<string, In>;
  /** skip the gradient checks (integer or boolean outputs, ops without a gradient) */
  noGrad?: boolean;
}

const prod = (d: number[]) => d.reduce((a, b) => a * b, 1);
const X = (dims: number[], seed = 1, lo = -1, hi = 1): In => ({ dims, data: randomValues(prod(dims), seed, lo, hi) });
const W = (dims: number[], seed = 7, lo = -1, hi = 1): In => ({ ...X(dims, seed, lo, hi), init: true });
const I64 = (values: number[], dims = [values.length]): In => ({ dims, data: values, dtype: 'int64', init: true });
const F = (values: number[], dims = [values.length]): In => ({ dims, data: values, init: true });

/** A one-node graph: inputs x0, x1, … (null = omitted optional input), outputs y0, … */
function op(name: string, opType: string, ins: Array<In | null>, attrs: Record<string, AttrValue> = {}, opts: { outputs?: number; opset?: number; noGrad?: boolean } = {}): Case {
  const model = oneNode(
    opType,
    ins.map((x) => (x === null ? null : x.init ? { name: '', dims: x.dims, data: x.data, dtype: x.dtype, init: true as const } : { dims: x.dims, dtype: x.dtype })),
    opts.outputs ?? 1,
    attrs,
    opts.opset ?? 17,
  );
  const feeds: Record<string, In> = {};
  ins.forEach((x, i) => x && !x.init && (feeds[`x${i}`] = x));
  return { name, model, feeds, noGrad: opts.noGrad };
}

function graph(name: string, spec: ModelSpec, feeds: Record<string, In>, noGrad = false): Case {
  return { name, model: buildModel(spec), feeds, noGrad };
}

const x4 = X([2, 3, 5, 6]);

const cases: Case[] = [
  // --- convolutions
  op('Conv 3×3 pads 1, bias', 'Conv', [x4, W([4, 3, 3, 3]), W([4], 8)], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }),
  op('Conv stride 2, asymmetric pads', 'Conv', [x4, W([4, 3, 3, 2])], { pads: [0, 1, 2, 0], strides: [2, 2] }),
  op('Conv auto_pad SAME_UPPER stride 2', 'Conv', [x4, W([4, 3, 3, 3])], { auto_pad: 'SAME_UPPER', strides: [2, 2] }),
  op('Conv auto_pad SAME_LOWER', 'Conv', [x4, W([4, 3, 2, 2])], { auto_pad: 'SAME_LOWER' }),
  op('Conv auto_pad VALID, stride (2, 1)', 'Conv', [x4, W([2, 3, 1, 3])], { auto_pad: 'VALID', strides: [2, 1] }),
  op('Conv dilations 2', 'Conv', [X([2, 3, 7, 8]), W([4, 3, 3, 3]), W([4], 9)], { dilations: [2, 2], pads: [2, 1, 1, 2] }),
  op('Conv depthwise, multiplier 2, stride 2', 'Conv', [x4, W([6, 1, 3, 3]), W([6], 9)], { group: 3, strides: [2, 2], pads: [1, 1, 1, 1] }),
  op('Conv depthwise, dilations 2', 'Conv', [X([2, 3, 7, 8]), W([3, 1, 3, 3])], { group: 3, dilations: [2, 2], pads: [2, 2, 2, 2] }),
  op('Conv 2 groups', 'Conv', [X([2, 4, 5, 6]), W([6, 2, 3, 3]), W([6], 9)], { group: 2, pads: [1, 0, 1, 0] }),
  op('Conv 1×1 stride 2', 'Conv', [x4, W([5, 3, 1, 1])], { strides: [2, 2] }),
  op('ConvTranspose stride 2, pads 1, output_padding 1', 'ConvTranspose', [x4, W([3, 4, 3, 3]), W([4], 9)], { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] }),
  op('ConvTranspose 2×2 stride 1', 'ConvTranspose', [x4, W([3, 2, 2, 2])], {}),
  op('ConvTranspose 2 groups, stride 2', 'ConvTranspose', [X([2, 4, 3, 4]), W([4, 3, 3, 3])], { group: 2, strides: [2, 2], pads: [0, 1, 1, 0] }),
  // --- pooling
  op('MaxPool 3×3 stride 2 pads 1 (overlapping)', 'MaxPool', [x4], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }),
  op('MaxPool 2×2 stride 2', 'MaxPool', [X([2, 3, 6, 6])], { kernel_shape: [2, 2], strides: [2, 2] }),
  op('MaxPool ceil_mode', 'MaxPool', [x4], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 }),
  op('MaxPool 3×3 stride 2 ceil_mode pads 1', 'MaxPool', [X([2, 3, 6, 7])], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 }),
  op('MaxPool asymmetric pads', 'MaxPool', [x4], { kernel_shape: [2, 3], strides: [1, 2], pads: [0, 1, 1, 0] }),
  op('AveragePool pads 1, count_include_pad 0', 'AveragePool', [x4], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }),
  op('AveragePool pads 1, count_include_pad 1', 'AveragePool', [x4], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 }),
  op('AveragePool 2×2 valid', 'AveragePool', [X([2, 3, 6, 6])], { kernel_shape: [2, 2], strides: [2, 2] }),
  op('AveragePool ceil_mode, count_include_pad 0', 'AveragePool', [x4], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 }),
  op('GlobalAveragePool', 'GlobalAveragePool', [x4]),
  op('GlobalMaxPool', 'GlobalMaxPool', [x4]),
  // --- normalisation
  op('BatchNormalization 4-D', 'BatchNormalization', [x4, W([3], 2), W([3], 3), W([3], 4), W([3], 5, 0.5, 2)], { epsilon: float(1e-3) }),
  op('BatchNormalization 2-D', 'BatchNormalization', [X([4, 5]), W([5], 2), W([5], 3), W([5], 4), W([5], 5, 0.5, 2)]),
  op('LayerNormalization last axis', 'LayerNormalization', [X([2, 5, 6]), W([6], 2), W([6], 3)]),
  op('LayerNormalization axis 1 of 4-D, no bias', 'LayerNormalization', [x4, W([3, 5, 6], 2)], { axis: 1, epsilon: float(1e-3) }),
  op('Softmax axis 1 (4-D)', 'Softmax', [x4], { axis: 1 }),
  op('Softmax last axis', 'Softmax', [x4], {}),
  op('Softmax opset 11 axis 1 (flattens)', 'Softmax', [x4], { axis: 1 }, { opset: 11 }),
  op('LogSoftmax axis 2', 'LogSoftmax', [x4], { axis: 2 }),
  op('ReduceMean spatial, keepdims 0', 'ReduceMean', [x4], { axes: [2, 3], keepdims: 0 }),
  op('ReduceMean channels, keepdims 1', 'ReduceMean', [x4], { axes: [1] }),
  op('ReduceMean axes input (opset 18), keepdims 0', 'ReduceMean', [x4, I64([1, 3])], { keepdims: 0 }, { opset: 18 }),
  op('ReduceSum axes input, keepdims 0', 'ReduceSum', [x4, I64([1])], { keepdims: 0 }),
  op('ReduceSum all axes', 'ReduceSum', [x4], { keepdims: 0 }),
  op('ReduceSum noop_with_empty_axes', 'ReduceSum', [x4], { noop_with_empty_axes: 1 }),
  op('ReduceMax axes [3, 1]', 'ReduceMax', [x4], { axes: [3, 1], keepdims: 0 }),
  // --- activations
  ...(
    [
      ['Relu', {}], ['LeakyRelu', { alpha: float(0.2) }], ['Sigmoid', {}], ['Tanh', {}], ['Softplus', {}], ['Elu', {}], ['Elu', { alpha: float(0.5) }],
      ['Selu', {}], ['Erf', {}], ['HardSigmoid', { alpha: float(1 / 6) }], ['HardSwish', {}], ['Neg', {}], ['Abs', {}], ['Exp', {}], ['Softsign', {}], ['Mish', {}],
    ] as Array<[string, Record<string, AttrValue>]>
  ).map(([o, at]) => op(`${o} ${JSON.stringify(at)}`, o, [X([2, 3, 4, 5], 3, -3, 3)], at, { opset: 18 })),
  op('Gelu (opset 20)', 'Gelu', [X([2, 3, 4, 5], 3, -3, 3)], {}, { opset: 20 }),
  op('Gelu tanh (opset 20)', 'Gelu', [X([2, 3, 4, 5], 3, -3, 3)], { approximate: 'tanh' }, { opset: 20 }),
  op('Sqrt', 'Sqrt', [X([2, 3, 4, 5], 3, 0.1, 3)]),
  op('Log', 'Log', [X([2, 3, 4, 5], 3, 0.1, 3)]),
  op('Reciprocal', 'Reciprocal', [X([2, 3, 4, 5], 3, 0.5, 3)]),
  op('PRelu per channel', 'PRelu', [x4, W([3, 1, 1], 2, 0, 0.5)]),
  op('Clip min/max inputs', 'Clip', [x4, F([-0.3], []), F([0.4], [])]),
  op('Clip max only', 'Clip', [x4, null, F([0.2], [])]),
  op('Clip opset 6 attributes', 'Clip', [x4], { min: float(-0.5), max: float(0.25) }, { opset: 6 }),
  // --- arithmetic and broadcasting
  op('Sub per-channel constant [3,1,1]', 'Sub', [x4, W([3, 1, 1])]),
  op('Div per-channel constant [1,3,1,1]', 'Div', [x4, W([1, 3, 1, 1], 5, 0.5, 2)]),
  op('Mul last-axis constant [6]', 'Mul', [x4, W([6])]),
  op('Add [5,1] constant', 'Add', [x4, W([5, 1])]),
  op('Add constant first', 'Add', [W([3, 1, 1]), x4]),
  op('Mul two inputs', 'Mul', [x4, X([2, 3, 5, 6], 4)]),
  op('Add [N,C,1,1] input to a 4-D input', 'Add', [x4, X([2, 3, 1, 1], 4)]),
  op('Sub scalar', 'Sub', [x4, F([0.5], [])]),
  op('Div by an input', 'Div', [x4, X([2, 3, 5, 6], 4, 0.5, 2)]),
  op('Pow 2', 'Pow', [x4, F([2], [])]),
  op('Pow 0.5', 'Pow', [X([2, 3, 5, 6], 3, 0.1, 2), F([0.5], [])]),
  op('Pow 1.7', 'Pow', [X([2, 3, 5, 6], 3, 0.1, 2), F([1.7], [])]),
  op('Max of three', 'Max', [x4, X([2, 3, 5, 6], 4), W([3, 1, 1])]),
  op('Min of two', 'Min', [x4, X([2, 3, 5, 6], 4)]),
  op('Sum of two', 'Sum', [x4, W([1, 1, 6])]),
  // --- linear algebra
  op('Gemm transB, bias', 'Gemm', [X([4, 6]), W([5, 6]), W([5], 3)], { transB: 1 }),
  op('Gemm transA, alpha, beta, matrix C', 'Gemm', [X([6, 4]), W([6, 5]), W([4, 5], 3)], { transA: 1, alpha: float(0.5), beta: float(2) }),
  op('Gemm two inputs', 'Gemm', [X([4, 6]), X([6, 5], 4)], {}),
  op('MatMul 3-D × constant', 'MatMul', [X([2, 3, 4]), W([4, 5])]),
  op('MatMul batched inputs', 'MatMul', [X([2, 3, 4]), X([2, 4, 5], 4)]),
  op('MatMul broadcast batch', 'MatMul', [X([2, 1, 3, 4]), X([3, 4, 2], 4)]),
  op('MatMul 1-D × 2-D', 'MatMul', [X([4]), X([4, 3], 4)]),
  op('MatMul 2-D × 1-D', 'MatMul', [X([3, 4]), X([4], 4)]),
  // --- shapes and data movement
  op('Flatten axis 1 (C mixed with H, W)', 'Flatten', [x4], { axis: 1 }),
  op('Flatten axis 2', 'Flatten', [x4], { axis: 2 }),
  op('Flatten axis 0', 'Flatten', [x4], { axis: 0 }),
  op('Reshape [0, -1]', 'Reshape', [x4, I64([0, -1])]),
  op('Reshape [2, 5, -1] (splits C·H)', 'Reshape', [x4, I64([2, 5, -1])]),
  op('Reshape to 4-D', 'Reshape', [X([2, 30]), I64([2, 3, 2, 5])]),
  op('Transpose to NHWC', 'Transpose', [x4], { perm: [0, 2, 3, 1] }),
  op('Transpose [1, 0, 3, 2]', 'Transpose', [x4], { perm: [1, 0, 3, 2] }),
  op('Transpose default (reverse)', 'Transpose', [X([2, 3, 4])]),
  op('Concat channels', 'Concat', [x4, X([2, 2, 5, 6], 4)], { axis: 1 }),
  op('Concat width (axis -1) with a constant', 'Concat', [x4, W([2, 3, 5, 2])], { axis: -1 }),
  op('Concat 2-D', 'Concat', [X([2, 3]), X([2, 4], 4)], { axis: 1 }),
  op('Split channels [1, 2] (input)', 'Split', [x4, I64([1, 2])], { axis: 1 }, { outputs: 2 }),
  op('Split width equally (attribute-free)', 'Split', [x4], { axis: 3 }, { outputs: 3 }),
  op('Split num_outputs uneven (opset 18)', 'Split', [x4], { axis: 2, num_outputs: 2 }, { outputs: 2, opset: 18 }),
  op('Slice channels and width, step 2', 'Slice', [x4, I64([1, 0]), I64([3, 2147483647 * 4]), I64([1, 3]), I64([1, 2])]),
  op('Slice negative step, INT64 bounds', 'Slice', [x4, I64([-1]), I64([-9223372036854775807]), I64([2]), I64([-2])]),
  op('Slice negative bounds', 'Slice', [x4, I64([-4, 1]), I64([-1, 100]), I64([-1, -2])]),
  op('Slice opset 9 attributes', 'Slice', [x4], { starts: [1], ends: [3], axes: [2] }, { opset: 9 }),
  op('Pad constant value (N, C, H, W pads)', 'Pad', [x4, I64([0, 1, 2, 0, 0, 0, 1, 3]), F([0.7], [])]),
  op('Pad reflect', 'Pad', [x4, I64([0, 0, 2, 1, 0, 0, 1, 3])], { mode: 'reflect' }),
  op('Pad edge', 'Pad', [x4, I64([0, 0, 1, 2, 0, 0, 2, 1])], { mode: 'edge' }),
  op('Pad negative (crop)', 'Pad', [x4, I64([0, 0, -1, 1, 0, 0, 2, -2])]),
  op('Pad axes input (opset 18)', 'Pad', [x4, I64([1, 2, 2, 1]), null, I64([2, 3])], {}, { opset: 18 }),
  op('Squeeze', 'Squeeze', [X([2, 1, 5, 1]), I64([1, 3])]),
  op('Unsqueeze', 'Unsqueeze', [X([2, 5]), I64([1, -1])]),
  op('Squeeze opset 11 attribute', 'Squeeze', [X([2, 1, 5, 1])], { axes: [3] }, { opset: 11 }),
  op('Unsqueeze opset 11 attribute', 'Unsqueeze', [X([2, 5])], { axes: [0, 3] }, { opset: 11 }),
  op('ReduceSum opset 11 attribute axes', 'ReduceSum', [x4], { axes: [1, 2] }, { opset: 11 }),
  op('Split opset 11 attribute sizes', 'Split', [x4], { axis: 3, split: [4, 2] }, { outputs: 2, opset: 11 }),
  op('Pad opset 10 attributes', 'Pad', [x4], { pads: [0, 0, 1, 0, 0, 0, 0, 2], value: float(0.5) }, { opset: 10 }),
  op('Gather channels [2, 0, 1, 1]', 'Gather', [x4, I64([2, 0, 1, 1])], { axis: 1 }),
  op('Gather scalar index on H', 'Gather', [x4, I64([-2], [])], { axis: 2 }),
  op('Gather 2-D indices', 'Gather', [X([5, 4]), I64([0, 4, 2, 2, 1, 3], [2, 3])], { axis: 0 }),
  op('Expand', 'Expand', [X([3, 1, 6]), I64([2, 3, 5, 6])]),
  op('Tile', 'Tile', [X([2, 3]), I64([2, 3])]),
  op('Identity', 'Identity', [x4]),
  op('Dropout (inference)', 'Dropout', [x4], {}),
  op('Cast float → float', 'Cast', [x4], { to: 1 }),
  op('Equal on constants and input', 'Equal', [X([2, 3], 1, 0, 2), F([1], [])], {}, { noGrad: true }),
  // --- graphs
  graph(
    'PyTorch view(x.size(0), -1) after a conv (NHWC-held, C·H·W order)',
    {
      nodes: [
        { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
        { op: 'Shape', inputs: ['c'], outputs: ['s'] },
        { op: 'Gather', inputs: ['s', 'zero'], outputs: ['n'], attrs: { axis: 0 } },
        { op: 'Unsqueeze', inputs: ['n', 'axes0'], outputs: ['n1'] },
        { op: 'Concat', inputs: ['n1', 'minus1'], outputs: ['shape'], attrs: { axis: 0 } },
        { op: 'Reshape', inputs: ['c', 'shape'], outputs: ['y'] },
      ],
      inputs: [{ name: 'x', dims: ['N', 3, 5, 6] }],
      outputs: [{ name: 'y' }],
      initializers: [
        { name: 'w', dims: [4, 3, 3, 3], data: randomValues(108, 5) },
        { name: 'zero', dims: [], data: [0], dtype: 'int64' },
        { name: 'axes0', dims: [1], data: [0], dtype: 'int64' },
        { name: 'minus1', dims: [1], data: [-1], dtype: 'int64' },
      ],
    },
    { x: x4 },
  ),
  graph(
    'constant subgraph folded (ConstantOfShape, Concat, Slice step -1, Transpose, Reshape, Cast → Pad)',
    {
      nodes: [
        { op: 'Constant', inputs: [], outputs: ['p'], attrs: { value: { tensor: { dims: [4], data: [1, 2, 0, 1], dtype: 'int64' } } } },
        { op: 'Constant', inputs: [], outputs: ['four'], attrs: { value: { tensor: { dims: [1], data: [4], dtype: 'int64' } } } },
        { op: 'ConstantOfShape', inputs: ['four'], outputs: ['z'], attrs: { value: { tensor: { dims: [1], data: [0], dtype: 'int64' } } } },
        { op: 'Concat', inputs: ['p', 'z'], outputs: ['pz'], attrs: { axis: 0 } },
        { op: 'Reshape', inputs: ['pz', 'shape42'], outputs: ['r'] },
        { op: 'Slice', inputs: ['r', 'm1', 'bigneg', 'zero', 'm1'], outputs: ['rev'] },
        { op: 'Transpose', inputs: ['rev'], outputs: ['t'], attrs: { perm: [1, 0] } },
        { op: 'Reshape', inputs: ['t', 'm1'], outputs: ['flat'] },
        { op: 'Cast', inputs: ['flat'], outputs: ['pads'], attrs: { to: 7 } },
        { op: 'Pad', inputs: ['x', 'pads'], outputs: ['y'] },
      ],
      inputs: [{ name: 'x', dims: ['N', 3, 5, 6] }],
      outputs: [{ name: 'y' }],
      initializers: [
        { name: 'shape42', dims: [2], data: [-1, 2], dtype: 'int64' },
        { name: 'm1', dims: [1], data: [-1], dtype: 'int64' },
        { name: 'bigneg', dims: [1], data: [-9223372036854775807], dtype: 'int64' },
        { name: 'zero', dims: [1], data: [0], dtype: 'int64' },
      ],
    },
    { x: x4 },
  ),
  graph(
    'input normalisation (Sub mean / Div std) → Conv → Relu → Flatten → Gemm',
    {
      nodes: [
        { op: 'Sub', inputs: ['x', 'mean'], outputs: ['a'] },
        { op: 'Div', inputs: ['a', 'std'], outputs: ['b'] },
        { op: 'Conv', inputs: ['b', 'w', 'bias'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1], strides: [2, 2] } },
        { op: 'Relu', inputs: ['c'], outputs: ['r'] },
        { op: 'Flatten', inputs: ['r'], outputs: ['f'], attrs: { axis: 1 } },
        { op: 'Gemm', inputs: ['f', 'fc', 'fcb'], outputs: ['y'], attrs: { transB: 1 } },
      ],
      inputs: [{ name: 'x', dims: ['N', 3, 5, 6] }],
      outputs: [{ name: 'y' }],
      initializers: [
        { name: 'mean', dims: [1, 3, 1, 1], data: [0.49, 0.48, 0.45] },
        { name: 'std', dims: [1, 3, 1, 1], data: [0.25, 0.24, 0.26] },
        { name: 'w', dims: [4, 3, 3, 3], data: randomValues(108, 5) },
        { name: 'bias', dims: [4], data: randomValues(4, 6) },
        { name: 'fc', dims: [7, 36], data: randomValues(7 * 36, 7) },
        { name: 'fcb', dims: [7], data: randomValues(7, 8) },
      ],
    },
    { x: X([2, 3, 5, 6], 1, 0, 1) },
  ),
  graph(
    'Conv → BatchNormalization (folded) → Relu',
    {
      nodes: [
        { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
        { op: 'BatchNormalization', inputs: ['c', 'g', 'b', 'm', 'v'], outputs: ['n'], attrs: { epsilon: float(1e-5), momentum: float(0.9) } },
        { op: 'Relu', inputs: ['n'], outputs: ['y'] },
      ],
      inputs: [{ name: 'x', dims: ['N', 3, 5, 6] }],
      outputs: [{ name: 'y' }],
      initializers: [
        { name: 'w', dims: [4, 3, 3, 3], data: randomValues(108, 5) },
        { name: 'g', dims: [4], data: randomValues(4, 6, 0.5, 1.5) },
        { name: 'b', dims: [4], data: randomValues(4, 7) },
        { name: 'm', dims: [4], data: randomValues(4, 8) },
        { name: 'v', dims: [4], data: randomValues(4, 9, 0.5, 2) },
      ],
    },
    { x: x4 },
  ),
  graph(
    'attention: MatMul of activations, Transpose, Softmax, Where on a comparison of the input',
    {
      nodes: [
        { op: 'MatMul', inputs: ['x', 'wq'], outputs: ['q'] },
        { op: 'MatMul', inputs: ['x', 'wk'], outputs: ['k'] },
        { op: 'Transpose', inputs: ['k'], outputs: ['kt'], attrs: { perm: [0, 2, 1] } },
        { op: 'MatMul', inputs: ['q', 'kt'], outputs: ['s'] },
        { op: 'Softmax', inputs: ['s'], outputs: ['p'], attrs: { axis: -1 } },
        { op: 'MatMul', inputs: ['p', 'x'], outputs: ['o'] },
        { op: 'Greater', inputs: ['o', 'zero'], outputs: ['pos'] },
        { op: 'Where', inputs: ['pos', 'o', 'x'], outputs: ['y'] },
      ],
      inputs: [{ name: 'x', dims: ['N', 4, 6] }],
      outputs: [{ name: 'y' }],
      initializers: [
        { name: 'wq', dims: [6, 6], data: randomValues(36, 5) },
        { name: 'wk', dims: [6, 6], data: randomValues(36, 6) },
        { name: 'zero', dims: [], data: [0] },
      ],
    },
    { x: X([2, 4, 6]) },
  ),
];

async function ortRun(model: Uint8Array, feeds: Record<string, In>): Promise<Array<{ dims: number[]; data: number[] }>> {
  const s = await ort.InferenceSession.create(model);
  const inputs: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) {
    const dt = v.dtype ?? 'float';
    inputs[k] = dt === 'float' ? new ort.Tensor('float32', Float32Array.from(v.data), v.dims) : new ort.Tensor('int64', BigInt64Array.from(Array.from(v.data, (n) => BigInt(n))), v.dims);
  }
  const out = await s.run(inputs);
  const res = s.outputNames.map((n) => ({ dims: [...out[n].dims], data: Array.from(out[n].data as ArrayLike<number | bigint>, Number) }));
  await s.release();
  return res;
}

type Layout = 'plain' | 'nhwc';

/** Our outputs (logical order), and the gradient of Σ r ⊙ y w.r.t. each float feed (logical order). */
function ours(c: Case, layout: Layout, r?: number[][]): { outs: Array<{ dims: number[]; data: number[] }>; grads?: number[][] } {
  const g = decodeOnnx(c.model, c.name);
  const program = compileOnnx(g, c.name);
  const names = Object.keys(c.feeds);
  const toHeld = (t: tf.Tensor): Held => (layout === 'nhwc' && t.rank === 4 && t.dtype === 'float32' ? nhwcHeld(tf.transpose(t, [0, 2, 3, 1])) : plain(t));
  return tf.tidy(() => {
    const base = names.map((n) => {
      const v = c.feeds[n];
      return tf.tensor(Array.from(v.data), v.dims, (v.dtype ?? 'float') === 'float' ? 'float32' : 'int32');
    });
    const runWith = (ts: tf.Tensor[]) => program.run(new Map(names.map((n, i) => [n, toHeld(ts[i])])), { batch: null, fixedBatch: null }).map(toPlain);
    const outs = runWith(base).map((t) => ({ dims: [...t.shape], data: Array.from(t.dataSync()) }));
    if (!r) return { outs };
    const floatIdx = base.map((t, i) => (t.dtype === 'float32' ? i : -1)).filter((i) => i >= 0);
    const f = (...xs: tf.Tensor[]) => {
      const ts = base.map((t, i) => (floatIdx.includes(i) ? xs[floatIdx.indexOf(i)] : t));
      const ys = runWith(ts);
      return ys.reduce((acc: tf.Scalar, y, k) => tf.add(acc, tf.sum(tf.mul(y, tf.tensor(r[k], y.shape)))) as tf.Scalar, tf.scalar(0));
    };
    const grads = tf.grads(f)(floatIdx.map((i) => base[i]));
    return { outs, grads: grads.map((gr) => Array.from(gr.dataSync())) };
  });
}

function expectClose(a: number[], b: number[], tol: number, what: string) {
  expect(a.length, what).toBe(b.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < b.length; i++) {
    const e = Math.abs(a[i] - b[i]) / (tol * Math.max(1, Math.abs(b[i])));
    if (!(e <= worst)) [worst, at] = [e, i];
  }
  expect(worst, `${what}: element ${at}: ${a[at]} vs ${b[at]}`).toBeLessThanOrEqual(1);
}

beforeAll(async () => {
  await selectBackend('wasm');
});

describe('ONNX ops against onnxruntime', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const ref = await ortRun(c.model, c.feeds);
    const has4d = Object.values(c.feeds).some((v) => v.dims.length === 4 && (v.dtype ?? 'float') === 'float');
    const layouts: Layout[] = has4d ? ['plain', 'nhwc'] : ['plain'];
    for (const layout of layouts) {
      const { outs } = ours(c, layout);
      expect(outs.length).toBe(ref.length);
      outs.forEach((o, k) => {
        expect(o.dims, `output ${k} shape (${layout})`).toEqual(ref[k].dims);
        expectClose(o.data, ref[k].data, 2e-5, `output ${k} (${layout})`);
      });
    }
    const floatFeeds = Object.entries(c.feeds).filter(([, v]) => (v.dtype ?? 'float') === 'float');
    if (c.noGrad || floatFeeds.length === 0) return;
    // gradients: both layouts agree, and match a central difference of onnxruntime's L
    const r = ref.map((o, k) => Array.from(randomValues(o.data.length, 100 + k)));
    const gradsBy = layouts.map((l) => ours(c, l, r).grads!);
    for (let i = 1; i < gradsBy.length; i++) gradsBy[i].forEach((g, k) => expectClose(g, gradsBy[0][k], 1e-5, `gradient ${k}, ${layouts[i]} vs plain`));
    const v = floatFeeds.map(([, f], k) => randomValues(f.data.length, 200 + k));
    const L = async (eps: number) => {
      const moved: Record<string, In> = { ...c.feeds };
      floatFeeds.forEach(([n, f], k) => (moved[n] = { ...f, data: Array.from(f.data, (x, j) => x + eps * v[k][j]) }));
      const o = await ortRun(c.model, moved);
      return o.reduce((acc, out, k) => acc + out.data.reduce((s, y, j) => s + y * r[k][j], 0), 0);
    };
    const h = 1e-3;
    const fd = ((await L(h)) - (await L(-h))) / (2 * h);
    const analytic = gradsBy[0].reduce((s, g, k) => s + g.reduce((t, gi, j) => t + gi * v[k][j], 0), 0);
    const scale = gradsBy[0].reduce((s, g, k) => s + g.reduce((t, gi, j) => t + Math.abs(gi * v[k][j]), 0), 0);
    expect(Math.abs(fd - analytic), `directional derivative: finite difference ${fd}, gradient ${analytic}`).toBeLessThanOrEqual(1e-2 * Math.max(scale, 1e-3));
  });
});
