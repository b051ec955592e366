/**
 * What the ONNX importer refuses, at load time, with a typed permanent error that names the file
 * and, for graph problems, the op, the node and the attribute: unsupported ops, attribute values
 * and dtypes, a wrong sha256, damaged or missing files, weights in external files, inputs that are
 * not an NCHW image batch, and graphs that mix the samples of a batch.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import onnxPkg from 'onnx-proto';
import { selectBackend } from '../agent/engine/backend.ts';
import { OnnxDigestError, OnnxGraphError, OnnxModelError, OnnxUnsupportedError } from '../agent/models/onnx/errors.ts';
import { loadOnnxNet, onnxNetFromBytes } from '../agent/models/onnx/load.ts';
import { ModelLoadError } from '../agent/models/io.ts';
import { isPermanent } from '../schema/errors.ts';
import { buildModel, modelProto, randomValues, type NodeSpec, type TensorSpec, type ValueSpec } from './helpers/onnx-build.ts';

const { onnx } = onnxPkg;

/** input [N, 3, 4, 4] → (extra nodes on 'x' giving 'h', a [N, 3, 4, 4] value) → Flatten → Gemm → logits [N, 5] */
function classifier(extra: NodeSpec[] = [], opts: { inits?: Array<TensorSpec & { name: string }>; input?: ValueSpec; opset?: number } = {}): Uint8Array {
  return buildModel({
    nodes: [
      ...(extra.length ? extra : [{ op: 'Identity', inputs: ['x'], outputs: ['h'] }]),
      { op: 'Flatten', inputs: ['h'], outputs: ['f'], attrs: { axis: 1 }, name: 'flatten' },
      { op: 'Gemm', inputs: ['f', 'fc'], outputs: ['logits'], attrs: { transB: 1 }, name: 'fc' },
    ],
    inputs: [opts.input ?? { name: 'x', dims: ['N', 3, 4, 4] }],
    outputs: [{ name: 'logits', dims: ['N', 5] }],
    initializers: [{ name: 'fc', dims: [5, 48], data: randomValues(240, 3) }, ...(opts.inits ?? [])],
    opset: opts.opset,
  });
}

function loadError(bytes: Uint8Array, name = 'model.onnx'): Error {
  try {
    onnxNetFromBytes(bytes, name);
  } catch (e) {
    return e as Error;
  }
  throw new Error('the model loaded');
}

function tmpFile(bytes: Uint8Array): string {
  const p = path.join(mkdtempSync(path.join(os.tmpdir(), 'sigma-onnx-')), 'model.onnx');
  writeFileSync(p, bytes);
  return p;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  await selectBackend('wasm');
});

describe('ONNX load errors', () => {
  it('loads the valid base graph (the cases below differ from it in one thing)', () => {
    const net = onnxNetFromBytes(classifier(), 'model.onnx');
    expect(net.inputShapes).toEqual([[null, 4, 4, 3]]);
    expect(net.outputShapes).toEqual([[null, 5]]);
  });

  it('an unsupported op names the op and the node', () => {
    const e = loadError(classifier([{ op: 'NonMaxSuppression', inputs: ['x'], outputs: ['h'], name: 'nms_7' }]));
    expect(e).toBeInstanceOf(OnnxUnsupportedError);
    expect(e).toBeInstanceOf(ModelLoadError);
    expect(isPermanent(e)).toBe(true);
    expect(e.message).toContain("node 'nms_7' (NonMaxSuppression)");
    expect(e.message).toContain("op 'NonMaxSuppression' is not supported");
    expect(e.message).toContain('model.onnx');
    expect((e as OnnxUnsupportedError).op).toBe('NonMaxSuppression');
    expect((e as OnnxUnsupportedError).nodeName).toBe('nms_7');
  });

  it('an op of another domain names the domain', () => {
    const e = loadError(classifier([{ op: 'FusedConv', domain: 'com.microsoft', inputs: ['x'], outputs: ['h'], name: 'fc0' }]));
    expect(e).toBeInstanceOf(OnnxUnsupportedError);
    expect(e.message).toContain("of domain 'com.microsoft'");
  });

  it('an unsupported attribute value names op, node and attribute', () => {
    const e = loadError(classifier([{ op: 'MaxPool', inputs: ['x'], outputs: ['h'], name: 'pool1', attrs: { kernel_shape: [1, 1], storage_order: 1 } }]));
    expect(e).toBeInstanceOf(OnnxUnsupportedError);
    expect(e.message).toContain("node 'pool1' (MaxPool), attribute 'storage_order'");
    expect((e as OnnxUnsupportedError).attribute).toBe('storage_order');
  });

  it('Conv with both dilations and strides > 1 names the attribute', () => {
    const w = { name: 'w', dims: [3, 3, 3, 3], data: randomValues(81, 4) };
    const e = loadError(
      classifier([{ op: 'Conv', inputs: ['x', 'w'], outputs: ['h'], name: 'conv9', attrs: { dilations: [2, 2], strides: [2, 2], pads: [4, 4, 4, 4] } }], { inits: [w] }),
    );
    expect(e).toBeInstanceOf(OnnxUnsupportedError);
    expect(e.message).toContain("node 'conv9' (Conv), attribute 'dilations'");
  });

  it('an attribute the op does not know is rejected, not ignored', () => {
    const e = loadError(classifier([{ op: 'Relu', inputs: ['x'], outputs: ['h'], name: 'relu3', attrs: { approximate: 'tanh' } }]));
    expect(e).toBeInstanceOf(OnnxUnsupportedError);
    expect(e.message).toContain("node 'relu3' (Relu), attribute 'approximate': this attribute is not supported");
  });

  it('a cast of an input-dependent value to an integer type is rejected (it would cut the gradient)', () => {
    const e = loadError(
      classifier([
        { op: 'Cast', inputs: ['x'], outputs: ['i'], name: 'quant', attrs: { to: 7 } },
        { op: 'Cast', inputs: ['i'], outputs: ['h'], attrs: { to: 1 } },
      ]),
    );
    expect(e).toBeInstanceOf(OnnxUnsupportedError);
    expect(e.message).toContain("node 'quant' (Cast), attribute 'to'");
  });

  it('an unsupported element type names the tensor', () => {
    const e = loadError(classifier([{ op: 'Mul', inputs: ['x', 'half'], outputs: ['h'] }], { inits: [{ name: 'half', dims: [1], data: [0x3c00], dtype: 'float16', raw: true }] }));
    expect(e).toBeInstanceOf(OnnxUnsupportedError);
    expect(e.message).toContain("tensor 'half' has element type FLOAT16");
  });

  it('weights in an external file name the tensor', () => {
    const m = modelProto({
      nodes: [{ op: 'Gemm', inputs: ['f', 'fc'], outputs: ['logits'], attrs: { transB: 1 } }],
      inputs: [{ name: 'x', dims: ['N', 3, 4, 4] }],
      outputs: [{ name: 'logits' }],
    });
    m.graph!.node!.unshift({ opType: 'Flatten', input: ['x'], output: ['f'] });
    m.graph!.initializer = [{ name: 'fc.weight', dims: [5, 48], dataType: 1, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL, externalData: [{ key: 'location', value: 'weights.bin' }] }];
    m.graph!.node![1].input = ['f', 'fc.weight'];
    const e = loadError(onnx.ModelProto.encode(m).finish());
    expect(e).toBeInstanceOf(OnnxUnsupportedError);
    expect(e.message).toContain("tensor 'fc.weight' keeps its data in an external file");
  });

  it('a wrong sha256 names the file and both digests', async () => {
    const bytes = classifier();
    const file = tmpFile(bytes);
    const wrong = '0'.repeat(64);
    const e = await loadOnnxNet(file, wrong).catch((x: Error) => x);
    expect(e).toBeInstanceOf(OnnxDigestError);
    expect(isPermanent(e)).toBe(true);
    expect((e as Error).message).toContain(file);
    expect((e as Error).message).toContain(wrong);
    expect((e as Error).message).toContain(sha(bytes));
    const net = await loadOnnxNet(file, sha(bytes));
    expect(net.format).toBe('onnx');
  });

  it('a truncated file names the file', async () => {
    const bytes = classifier();
    const cut = bytes.slice(0, Math.floor(bytes.length * 0.6));
    const file = tmpFile(cut);
    const e = await loadOnnxNet(file, sha(cut)).catch((x: Error) => x);
    expect(e).toBeInstanceOf(OnnxModelError);
    expect((e as Error).message).toContain(`model at ${file}: not a readable ONNX ModelProto`);
  });

  it('a missing file names the file', async () => {
    const e = await loadOnnxNet('/nonexistent/m.onnx', '0'.repeat(64)).catch((x: Error) => x);
    expect(e).toBeInstanceOf(OnnxModelError);
    expect((e as Error).message).toContain('/nonexistent/m.onnx');
  });

  it('a 2-D (MLP) input is rejected with the contract in the message', () => {
    const e = loadError(
      buildModel({
        nodes: [{ op: 'Gemm', inputs: ['x', 'fc'], outputs: ['y'], attrs: { transB: 1 } }],
        inputs: [{ name: 'x', dims: ['N', 784] }],
        outputs: [{ name: 'y' }],
        initializers: [{ name: 'fc', dims: [10, 784], data: new Float32Array(7840) }],
      }),
    );
    expect(e).toBeInstanceOf(OnnxGraphError);
    expect(e.message).toContain("graph input 'x' has shape [N, 784]; an image batch [N, C, H, W]");
  });

  it('an integer input and a symbolic spatial size are rejected', () => {
    expect(loadError(classifier([], { input: { name: 'x', dims: ['N', 3, 4, 4], dtype: 'int64' } })).message).toContain('element type INT64');
    expect(loadError(classifier([], { input: { name: 'x', dims: ['N', 3, 'H', 4] } })).message).toContain('H must be a fixed size');
  });

  it('a graph that mixes the samples of a batch fails its probe', () => {
    const e = loadError(
      buildModel({
        nodes: [
          { op: 'Reshape', inputs: ['x', 'two'], outputs: ['f'] },
          { op: 'Gemm', inputs: ['f', 'fc'], outputs: ['logits'], attrs: { transB: 1 } },
        ],
        inputs: [{ name: 'x', dims: ['N', 3, 4, 4] }],
        outputs: [{ name: 'logits' }],
        initializers: [
          { name: 'two', dims: [2], data: [-1, 96], dtype: 'int64' },
          { name: 'fc', dims: [5, 96], data: randomValues(480, 3) },
        ],
      }),
    );
    expect(e).toBeInstanceOf(OnnxGraphError);
    expect(e.message).toMatch(/graph output 'logits' has shape \[1, 5\] for a batch of 2/);
  });

  it('a graph whose logits depend on the other samples (right shapes) fails its probe', () => {
    const e = loadError(
      classifier([
        { op: 'ReduceMean', inputs: ['x'], outputs: ['m'], attrs: { axes: [0], keepdims: 1 } },
        { op: 'Sub', inputs: ['x', 'm'], outputs: ['h'] },
      ]),
    );
    expect(e).toBeInstanceOf(OnnxGraphError);
    expect(e.message).toContain('the logits of a sample change with the other samples in its batch');
  });

  it('a batch size baked into a fixed-batch export fails at load with the re-export hint', () => {
    const e = loadError(
      buildModel({
        nodes: [
          { op: 'Concat', inputs: ['x', 'extra'], outputs: ['c'], attrs: { axis: 1 }, name: 'cat' },
          { op: 'Flatten', inputs: ['c'], outputs: ['f'] },
          { op: 'Gemm', inputs: ['f', 'fc'], outputs: ['logits'], attrs: { transB: 1 } },
        ],
        inputs: [{ name: 'x', dims: [1, 3, 4, 4] }],
        outputs: [{ name: 'logits' }],
        initializers: [
          { name: 'extra', dims: [1, 1, 4, 4], data: randomValues(16, 2) },
          { name: 'fc', dims: [5, 64], data: randomValues(320, 3) },
        ],
      }),
    );
    expect(e).toBeInstanceOf(OnnxGraphError);
    expect(e.message).toContain("node 'cat' (Concat): failed");
    expect(e.message).toContain("re-export with dynamic_axes={'x': {0: 'batch'}}");
  });

  it('a malformed input_range metadata is named', () => {
    const m = modelProto({
      nodes: [
        { op: 'Flatten', inputs: ['x'], outputs: ['f'] },
        { op: 'Gemm', inputs: ['f', 'fc'], outputs: ['y'], attrs: { transB: 1 } },
      ],
      inputs: [{ name: 'x', dims: ['N', 3, 4, 4] }],
      outputs: [{ name: 'y' }],
      initializers: [{ name: 'fc', dims: [5, 48], data: randomValues(240, 3) }],
      metadata: { 'sigma_sweep.input_range': '255' },
    });
    const e = loadError(onnx.ModelProto.encode(m).finish());
    expect(e).toBeInstanceOf(OnnxGraphError);
    expect(e.message).toContain("metadata sigma_sweep.input_range = '255'");
  });
});
