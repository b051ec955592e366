/**
 * σ-zero on the ONNX Runtime engine against the tfjs engine on the zoo SmallCNN and its ONNX twin:
 * 32 MNIST test images, 20 steps, tfjs on its cpu backend (whose max-pool gradient breaks ties as
 * PyTorch and ONNX Runtime do; see below). The long comparison the issue asks
 * for (1000 images, N = 100) is `npm run bench:sigma-zero -- --compare-engines`.
 *
 * Why not per-sample identity: float summation order differs between ONNX Runtime and tfjs, and at
 * the clean images (δ = 0, step 1) tied maxima inside 2×2 pools (background pixels) send their
 * gradient to the first maximum in ONNX Runtime (and PyTorch) but to the last in tfjs-wasm
 * (engine/maxpool-grad.ts), which changes the first step's gradient on most images; here the cpu
 * backend, which breaks ties as ONNX Runtime does, leaves only float order, which σ-zero's threshold
 * can still turn into a feature more or less on some samples. What must agree: the median ℓ0 (a
 * robust statistic), ASR within one sample of 32, and the queries exactly. (On wasm, at 20 steps,
 * the median moved by 1.5 features in our runs: the tie rule, not the engine.)
 */
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../agent/engine/backend.ts';
import { MeteredModel } from '../agent/engine/metered-model.ts';
import { OrtClassifier } from '../agent/engine/ort/classifier.ts';
import { loadOrtModel } from '../agent/engine/ort/engine.ts';
import { loadLayersModelFolder } from '../agent/models/io.ts';
import { ZOO_DIR, zooModel } from '../agent/models/zoo.ts';
import { readMnist } from '../agent/data/mnist.ts';
import { sigmaZero } from '../agent/attacks/sigma-zero.ts';

const D = 784;

describe('σ-zero on both engines', () => {
  it('32 MNIST images, 20 steps: the same median ℓ0, ASR within one sample, the same queries', async () => {
    await selectBackend('cpu');
    const z = zooModel('mnist-smallcnn')!;
    const layers = await loadLayersModelFolder(z.dir, z.sha256);
    const twin = loadOrtModel(path.join(ZOO_DIR, z.onnxTwin!.path), z.onnxTwin!.sha256, 'cpu', 1);
    const mnist = readMnist('test');
    const x = tf.tensor4d(mnist.images.subarray(0, 32 * D), [32, 28, 28, 1]);
    const y = tf.tensor1d(Int32Array.from(mnist.labels.subarray(0, 32)), 'int32');
    const summary = async (m: OrtClassifier | MeteredModel) => {
      const r = await sigmaZero(m, x, y, { steps: 20 });
      const adv = tf.clipByValue(r.adversarials, 0, 1);
      const pred = tf.argMax(m.forward(adv as tf.Tensor4D), 1).dataSync();
      const a = adv.dataSync();
      const c = x.dataSync();
      const lab = y.dataSync();
      const l0 = Array.from({ length: 32 }, (_, k) => {
        let n = 0;
        for (let i = 0; i < D; i++) if (a[k * D + i] !== c[k * D + i]) n++;
        return pred[k] !== lab[k] ? n : Infinity;
      }).sort((p, q) => p - q);
      tf.dispose([adv, r.adversarials]);
      return { median: (l0[15] + l0[16]) / 2, asr10: l0.filter((v) => v <= 10).length, asrInf: l0.filter((v) => v < Infinity).length, q: [m.forwards, m.backwards] };
    };
    const a = await summary(new OrtClassifier(twin));
    const b = await summary(new MeteredModel(layers));
    expect(a.median).toBe(b.median);
    expect(Math.abs(a.asr10 - b.asr10)).toBeLessThanOrEqual(1);
    expect(Math.abs(a.asrInf - b.asrInf)).toBeLessThanOrEqual(1);
    expect(a.q).toEqual(b.q);
    console.log(`σ-zero, 32 images, 20 steps: ORT median ${a.median}, ASR_10 ${a.asr10}/32, ASR_∞ ${a.asrInf}/32; tfjs ${b.median}, ${b.asr10}/32, ${b.asrInf}/32`);
    tf.dispose([x, y]);
  });
});
