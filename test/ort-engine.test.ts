/**
 * The ONNX Runtime engine behind the Classifier contract: the zoo SmallCNN's ONNX twin against the
 * tfjs model (logits, input gradients), the tfjs → ONNX writer on a ResNet-18, query counting as
 * MeteredModel counts, the head and generic paths agreeing, unsupported ops failing at load
 * naming op and node, old-opset graphs upgraded, engine selection, results recording the engine.
 * (σ-zero on both engines: ort-sigma-zero.test.ts.)
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../agent/engine/backend.ts';
import { MeteredModel } from '../agent/engine/metered-model.ts';
import { OrtClassifier, OrtModel } from '../agent/engine/ort/classifier.ts';
import { chooseOrtEngine, loadOrtModel, onnxSource } from '../agent/engine/ort/engine.ts';
import { EngineRequestError, ENGINE_ENV } from '../agent/engine/ort/request.ts';
import { OrtGraphError, UnsupportedOpError } from '../agent/engine/ort/errors.ts';
import { DT, encodeModel, GraphWriter, valueInfo } from '../agent/engine/ort/onnx.ts';
import { loadLayersModelFolder } from '../agent/models/io.ts';
import { exportLayersModel } from '../agent/models/onnx-export/export.ts';
import { buildResNet18 } from '../agent/models/resnet18.ts';
import { ZOO_DIR, zooModel } from '../agent/models/zoo.ts';
import { readMnist } from '../agent/data/mnist.ts';
import { differenceOfLogits } from '../agent/attacks/losses.ts';
import { withHead } from '../agent/attacks/loss-head.ts';
import { runTask } from '../agent/run-task.ts';
import { smallCnnTask } from './helpers/zoo.ts';
import { relativeError } from './helpers/onnx-fixtures.ts';

const z = zooModel('mnist-smallcnn')!;
const D = 784;
let layers: tf.LayersModel;
let twin: OrtModel;
const mnist = readMnist('test');

function batch(from: number, n: number): { x: tf.Tensor4D; y: tf.Tensor1D } {
  return {
    x: tf.tensor4d(mnist.images.subarray(from * D, (from + n) * D), [n, 28, 28, 1]),
    y: tf.tensor1d(Int32Array.from(mnist.labels.subarray(from, from + n)), 'int32'),
  };
}


beforeAll(async () => {
  // the cpu backend: its max-pool gradient sends ties to the first maximum, as PyTorch and ONNX
  // Runtime do (the wasm override sends them to the last one: agent/engine/maxpool-grad.ts)
  await selectBackend('cpu');
  layers = await loadLayersModelFolder(z.dir, z.sha256);
  twin = loadOrtModel(path.join(ZOO_DIR, z.onnxTwin!.path), z.onnxTwin!.sha256, 'cpu', 1);
});

afterEach(() => {
  delete process.env[ENGINE_ENV];
});

describe('the zoo SmallCNN twin', () => {
  it('is what the writer produces from the zoo model today (byte for byte) and the manifest digest is its sha256', () => {
    const bytes = exportLayersModel(layers, 'mnist-smallcnn');
    const file = readFileSync(path.join(ZOO_DIR, z.onnxTwin!.path));
    expect(Buffer.from(bytes).equals(file)).toBe(true);
    expect(createHash('sha256').update(file).digest('hex')).toBe(z.onnxTwin!.sha256);
  });

  it('gives the tfjs logits to 1e-5 on 100 test images', () => {
    const { x, y } = batch(0, 100);
    const ref = (layers.predict(x) as tf.Tensor).dataSync();
    const got = twin.logits(x.dataSync() as Float32Array, 100);
    expect(relativeError(got, ref, 100)).toBeLessThan(1e-5);
    tf.dispose([x, y]);
  });

  it('gives the tfjs engine input gradients (margin, cross-entropy, a generic loss) to 1e-4', () => {
    const { x, y } = batch(100, 16);
    const delta = tf.mul(tf.randomUniform([16, 28, 28, 1], -1, 1, 'float32', 7), 0.1) as tf.Tensor4D;
    const tfm = new MeteredModel(layers);
    const ort = new OrtClassifier(twin);
    // cross-entropy against a wrong label: at the true label of a confident prediction the
    // gradient softmax − onehot is float32 rounding noise (1 − p_y below 1e-7) in every framework
    const wrong = tf.tensor1d(Array.from(y.dataSync(), (v) => (v + 1) % 10), 'int32');
    const losses = [
      withHead((lg) => tf.sum(differenceOfLogits(lg, y)), { logits: 'margin', labels: y, reduction: 'sum' }),
      withHead((lg) => tf.losses.softmaxCrossEntropy(tf.oneHot(wrong, 10), lg) as tf.Scalar, { logits: 'ce', labels: wrong, reduction: 'mean' }),
      // no annotation: the generic path (a loss of logits and δ)
      (lg: tf.Tensor2D, d: tf.Tensor4D) => tf.add(tf.sum(tf.mul(tf.softmax(lg), tf.range(0, 10))), tf.sum(tf.square(d))) as tf.Scalar,
    ];
    for (const zero of [true, false]) {
      const d = zero ? tf.zerosLike(delta) : delta;
      for (const loss of losses) {
        const a = ort.valueAndGrad(x, d, loss);
        const b = tfm.valueAndGrad(x, d, loss);
        expect(relativeError(a.logits.dataSync(), b.logits.dataSync(), 16)).toBeLessThan(1e-5);
        expect(relativeError(a.grad.dataSync(), b.grad.dataSync(), 16)).toBeLessThan(1e-4);
        tf.dispose([a.logits, a.grad, b.logits, b.grad]);
      }
    }
    expect(ort.headSteps).toBe(4);
    expect(ort.genericSteps).toBe(2);
    tf.dispose([x, y, wrong, delta]);
  });

  it('counts queries as MeteredModel does', () => {
    const { x, y } = batch(0, 5);
    const d = tf.zerosLike(x);
    const ort = new OrtClassifier(twin);
    const tfm = new MeteredModel(layers);
    const loss = withHead((lg) => tf.sum(differenceOfLogits(lg, y)), { logits: 'margin', labels: y, reduction: 'sum' });
    for (const m of [ort, tfm]) {
      tf.dispose(m.forward(x));
      const r = m.valueAndGrad(x, d, loss);
      tf.dispose([r.logits, r.grad]);
      tf.dispose(m.backwardAt(x, (lg) => tf.sum(lg)));
      tf.dispose(m.valueAndGradUncounted(x));
    }
    expect([ort.forwards, ort.backwards]).toEqual([10, 10]);
    expect([ort.forwards, ort.backwards]).toEqual([tfm.forwards, tfm.backwards]);
    ort.resetCounters();
    expect([ort.forwards, ort.backwards]).toEqual([0, 0]);
    tf.dispose([x, y, d]);
  });
});

describe('the tfjs → ONNX writer', () => {
  it('writes a ResNet-18 (BatchNorm, strided and 1×1 convs, residual adds, average pooling) whose logits and input gradients match tfjs', () => {
    const net = buildResNet18(3, 10, 8);
    const m = new OrtModel(exportLayersModel(net), { threads: 1, provider: 'cpu' });
    expect(m.sampleShape).toEqual([32, 32, 3]);
    const x = tf.randomUniform([4, 32, 32, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
    const y = tf.tensor1d([0, 3, 5, 9], 'int32');
    const ref = tf.tidy(() => (net.predict(x) as tf.Tensor).dataSync());
    expect(relativeError(m.logits(x.dataSync() as Float32Array, 4), ref, 4)).toBeLessThan(1e-5);
    const loss = withHead((lg) => tf.sum(differenceOfLogits(lg, y)), { logits: 'margin', labels: y, reduction: 'sum' });
    const d = tf.zerosLike(x);
    const a = new OrtClassifier(m).valueAndGrad(x, d, loss);
    const b = new MeteredModel(net).valueAndGrad(x, d, loss);
    expect(relativeError(a.grad.dataSync(), b.grad.dataSync(), 4)).toBeLessThan(1e-4);
    tf.dispose([x, y, d, a.logits, a.grad, b.logits, b.grad]);
    m.dispose();
  });

  it('refuses a layer it cannot write, naming it', () => {
    const m = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 2, kernelSize: 3 }), tf.layers.upSampling2d({}), tf.layers.flatten(), tf.layers.dense({ units: 3 })] });
    expect(() => exportLayersModel(m)).toThrow(/UpSampling2D/);
  });
});

/** A one-input classifier graph: x [N, 1, 4, 4] → Flatten → (extra nodes) → Gemm → logits [N, 3]. */
function tinyGraph(opset: number, extra: (w: GraphWriter, h: string) => string, metadata: Record<string, string> = {}): Uint8Array {
  const w = new GraphWriter('t_');
  const flat = w.op1('Flatten', ['x'], { axis: 1 });
  const h = extra(w, flat);
  const wgt = w.constF(Array.from({ length: 48 }, (_, i) => Math.sin(i + 1)), [16, 3]);
  w.op('Gemm', [h, wgt], {}, ['logits']);
  return encodeModel({
    irVersion: 7,
    opsetImport: [{ domain: '', version: opset }],
    graph: { name: 'tiny', node: w.nodes, initializer: w.initializers, input: [valueInfo('x', DT.FLOAT, [null, 1, 4, 4])], output: [valueInfo('logits', DT.FLOAT, [null, 3])] },
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  });
}

describe('graphs the builder cannot differentiate', () => {
  it('an op without an adjoint on the gradient path fails at load, naming the op and the node', () => {
    const bytes = tinyGraph(17, (w, h) => w.op1('Round', [h]));
    expect(() => new OrtModel(bytes, { threads: 1, provider: 'cpu' })).toThrow(UnsupportedOpError);
    expect(() => new OrtModel(bytes, { threads: 1, provider: 'cpu' })).toThrow(/Round node 't_n_Round_\d+'/);
  });

  it('a LayerNormalization without bias (onnxruntime-node segfaults on it) is refused before any session, naming the node', () => {
    const bytes = tinyGraph(17, (w, h) => w.op1('LayerNormalization', [h, w.op1('Shape', [h])], { axis: -1 }));
    expect(() => new OrtModel(bytes, { threads: 1, provider: 'cpu' })).toThrow(/LayerNormalization node 't_n_LayerNormalization_\d+' \(no bias input: onnxruntime-node crashes on it/);
  });

  it('an op off the gradient path (shape arithmetic) is fine', () => {
    const bytes = tinyGraph(17, (w, h) => w.op1('Reshape', [h, w.op1('Concat', [w.op1('Shape', [h]), w.constI64([])], { axis: 0 })]));
    expect(new OrtModel(bytes, { threads: 1, provider: 'cpu' }).numClasses).toBe(3);
  });

  it('a graph with two inputs is not a classifier', () => {
    const w = new GraphWriter('t_');
    w.op('Add', ['a', 'b'], {}, ['logits']);
    const bytes = encodeModel({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph: { name: 'g', node: w.nodes, input: [valueInfo('a', DT.FLOAT, [null, 3]), valueInfo('b', DT.FLOAT, [null, 3])], output: [valueInfo('logits', DT.FLOAT, [null, 3])] } });
    expect(() => new OrtModel(bytes, { threads: 1, provider: 'cpu' })).toThrow(OrtGraphError);
  });

  it('upgrades opset-11 forms (Unsqueeze/ReduceSum axes as attributes, Softmax over a flattened tail) and differentiates them', () => {
    const bytes = tinyGraph(11, (w, h) => {
      const u = w.op1('Unsqueeze', [h], { axes: [2] }); // [N, 16, 1]
      const s = w.op1('ReduceSum', [u], { axes: [2], keepdims: 0 }); // [N, 16]
      const sm = w.op1('Softmax', [w.op1('Reshape', [s, w.constI64([0, 4, 4])])], { axis: 1 }); // legacy: over the last 16
      return w.op1('Reshape', [sm, w.constI64([0, 16])]);
    });
    const m = new OrtModel(bytes, { threads: 1, provider: 'cpu' });
    const x = Float32Array.from({ length: 32 }, (_, i) => Math.cos(i));
    const cot = Float32Array.from([1, -2, 0.5, 0, 1, -1]);
    // finite differences of ⟨cot, logits⟩ at a few coordinates
    const g = m.vjp(x, 2, cot);
    const f = (v: Float32Array) => m.logits(v, 2).reduce((acc, l, i) => acc + l * cot[i], 0);
    for (const i of [0, 5, 17, 31]) {
      const e = 1e-2;
      const xp = Float32Array.from(x);
      const xm = Float32Array.from(x);
      xp[i] += e;
      xm[i] -= e;
      expect(g[i]).toBeCloseTo((f(xp) - f(xm)) / (2 * e), 3);
    }
  });
});

describe('input value range', () => {
  it('a model whose metadata says it takes [0, 255] gets 255·x, and the gradient is with respect to x', () => {
    const plain = new OrtModel(tinyGraph(17, (w, h) => w.op1('Tanh', [w.op1('Mul', [h, w.scalarF(0.01)])])), { threads: 1, provider: 'cpu' });
    const ranged = new OrtModel(tinyGraph(17, (w, h) => w.op1('Tanh', [w.op1('Mul', [h, w.scalarF(0.01)])]), { 'sigma_sweep.input_range': '0,255' }), { threads: 1, provider: 'cpu' });
    const x = Float32Array.from({ length: 16 }, (_, i) => i / 16);
    expect(Array.from(ranged.logits(x, 1))).toEqual(Array.from(plain.logits(x.map((v) => v * 255), 1)));
    const cot = Float32Array.of(1, -1, 0.5);
    const g = ranged.vjp(x, 1, cot);
    const g255 = plain.vjp(x.map((v) => v * 255), 1, cot);
    g.forEach((v, i) => expect(v).toBeCloseTo(255 * g255[i], 5));
    expect(() => new OrtModel(tinyGraph(17, (w, h) => h, { 'sigma_sweep.input_range': '1,0' }), { threads: 1, provider: 'cpu' })).toThrow(/input_range/);
  });
});

describe('engine selection', () => {
  it('auto: ONNX Runtime for the zoo SmallCNN (its twin), tfjs for a LayersModel folder without one', () => {
    expect(onnxSource({ name: 'mnist-smallcnn', sha256: z.sha256 })?.file).toBe(path.join(ZOO_DIR, 'mnist-smallcnn', 'model.onnx'));
    expect(chooseOrtEngine({ name: 'mnist-smallcnn', sha256: z.sha256 }, 'auto')?.engine).toBe('ort-cpu');
    expect(chooseOrtEngine({ name: 'mine', sha256: z.sha256, path: z.dir }, 'auto')).toBeNull();
    expect(chooseOrtEngine({ name: 'mnist-smallcnn', sha256: z.sha256 }, 'tfjs')).toBeNull();
    // a TensorFlow backend (tfjs-node-gpu) keeps tfjs under auto, not under an explicit ort
    expect(chooseOrtEngine({ name: 'mnist-smallcnn', sha256: z.sha256 }, 'auto', 'tensorflow')).toBeNull();
    expect(chooseOrtEngine({ name: 'mnist-smallcnn', sha256: z.sha256 }, 'ort', 'tensorflow')?.engine).toBe('ort-cpu');
    expect(() => chooseOrtEngine({ name: 'mine', sha256: z.sha256, path: z.dir }, 'ort')).toThrow(EngineRequestError);
  });

  it('auto falls back to tfjs on an op without an adjoint; ort refuses it; a wrong digest is refused either way', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ort-engine-'));
    const file = path.join(dir, 'round.onnx');
    const bytes = tinyGraph(17, (w, h) => w.op1('Round', [h]));
    writeFileSync(file, bytes);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    expect(chooseOrtEngine({ name: 'r', sha256, path: file }, 'auto')).toBeNull();
    expect(() => chooseOrtEngine({ name: 'r', sha256, path: file }, 'ort')).toThrow(/Round/);
    expect(() => chooseOrtEngine({ name: 'r', sha256: '0'.repeat(64), path: file }, 'auto')).toThrow(/sha256 mismatch/);
  });

  it('a task on the zoo SmallCNN runs on ONNX Runtime by default and its result records ort-cpu; --engine tfjs records the tfjs backend', async () => {
    const task = smallCnnTask({ sampleIndices: [0, 1, 2], steps: 3 });
    const ort = await runTask(task, { backend: 'cpu' });
    expect(ort.backend).toBe('ort-cpu');
    expect(ort.batches.map((b) => [b.forwards, b.backwards])).toEqual([[9, 9]]);
    process.env[ENGINE_ENV] = 'tfjs';
    const tfjs = await runTask({ ...task, key: 'u'.repeat(32) }, { backend: 'cpu' });
    expect(tfjs.backend).toBe('cpu');
    expect(tfjs.batches.map((b) => [b.forwards, b.backwards])).toEqual([[9, 9]]);
  });
});
