/**
 * Conv2D gradients through the forward kernel (agent/engine/conv-grad.ts) against tfjs's stock
 * gradient kernels on the cpu backend (the reference implementation), on random shapes:
 * strides 1–3 and mixed, 'same', 'valid' and explicit asymmetric padding, 1×1 to 5×5 filters.
 * Only the summation order differs, so we allow float32 rounding relative to the gradient scale.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { conv2dFilterGrad, conv2dInputGrad, conv2dInputGradStrided } from '../agent/engine/conv-grad.ts';
import { selectBackend } from '../agent/engine/backend.ts';
import { mulberry32 } from '../agent/attacks/rng.ts';

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];

function randomCase(r: () => number) {
  const int = (a: number, b: number) => a + Math.floor(r() * (b - a + 1));
  const kh = int(1, 5);
  const kw = int(1, 5);
  const sh = int(1, 3);
  const sw = r() < 0.3 ? int(1, 3) : sh;
  const pads: Pad[] = ['same', 'valid', [[0, 0], [int(0, 2), int(0, 2)], [int(0, 2), int(0, 2)], [0, 0]]];
  const pad = pads[int(0, 2)];
  const h = int(kh + 1, 12);
  const w = int(kw + 1, 12);
  return { x: [int(1, 3), h, w, int(1, 4)], f: [kh, kw, 0, int(1, 5)], s: [sh, sw] as [number, number], pad };
}

function maxRelDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] / Math.max(1e-6, tf.max(tf.abs(b)).dataSync()[0]));
}

beforeAll(async () => {
  await selectBackend('cpu');
});

describe('Conv2D gradients through the forward convolution', () => {
  it('match the stock kernels on 60 random configurations', () => {
    const r = mulberry32(7);
    for (let k = 0; k < 60; k++) {
      const c = randomCase(r);
      c.f[2] = c.x[3];
      tf.tidy(() => {
        const x = tf.randomNormal(c.x as [number, number, number, number], 0, 1, 'float32', k) as tf.Tensor4D;
        const f = tf.randomNormal(c.f as [number, number, number, number], 0, 1, 'float32', k + 1000) as tf.Tensor4D;
        const y = tf.conv2d(x, f, c.s, c.pad as 'same');
        if (y.shape.some((s) => s === 0)) return;
        const dy = tf.randomNormal(y.shape, 0, 1, 'float32', k + 2000) as tf.Tensor4D;
        const [gx, gf] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad as 'same'))([x, f], dy);
        const attrs = { strides: c.s, pad: c.pad, dataFormat: 'NHWC' as const, dilations: 1 as const };
        const label = JSON.stringify(c);
        expect(maxRelDiff(conv2dFilterGrad(x, dy, f.shape, attrs as never), gf), label).toBeLessThan(1e-6);
        if (c.s[0] === 1 && c.s[1] === 1) expect(maxRelDiff(conv2dInputGrad(dy, f, x.shape, attrs as never), gx), label).toBeLessThan(1e-6);
        // the residue-class path is exact for every stride, 1 included
        expect(maxRelDiff(conv2dInputGradStrided(dy, f, x.shape, attrs as never), gx), label).toBeLessThan(1e-6);
      });
    }
  });

  /**
   * Input and first-layer filter gradients of sum(model(x)²) on `backend`, plus the tensors and
   * bytes left behind by three more gradient calls.
   */
  async function modelGrads(backend: 'cpu' | 'wasm', build: () => tf.LayersModel, xs: Float32Array, shape: [number, number, number, number]) {
    await selectBackend(backend);
    const m = build();
    const x = tf.tensor4d(xs, shape);
    const f = (z: tf.Tensor) => tf.sum(tf.square(m.apply(z, { training: false }) as tf.Tensor)) as tf.Scalar;
    const gx = Array.from(await tf.grad(f)(x).data());
    const kernel = m.layers[0].trainableWeights[0].read() as tf.Variable;
    const { grads: gw } = tf.variableGrads(() => f(x), [kernel]);
    const gk = Array.from(await gw[kernel.name].data());
    const before = tf.memory();
    for (let i = 0; i < 3; i++) tf.dispose(tf.grad(f)(x));
    const after = tf.memory();
    return { gx, gk, leaked: [after.numTensors - before.numTensors, after.numBytes - before.numBytes] };
  }

  async function expectWasmMatchesCpu(build: () => tf.LayersModel, shape: [number, number, number, number]) {
    const xs = tf.randomUniform(shape, 0, 1, 'float32', 5).dataSync() as Float32Array;
    const cpu = await modelGrads('cpu', build, xs, shape);
    const wasm = await modelGrads('wasm', build, xs, shape);
    const close = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]))) / Math.max(...b.map(Math.abs));
    expect(close(wasm.gx, cpu.gx)).toBeLessThan(1e-6);
    expect(close(wasm.gk, cpu.gk)).toBeLessThan(1e-6);
    expect(wasm.leaked).toEqual([0, 0]);
  }

  it('on wasm, a model gradient (input and filter) equals the cpu reference', async () => {
    await expectWasmMatchesCpu(
      () =>
        tf.sequential({
          layers: [
            tf.layers.conv2d({ inputShape: [9, 9, 2], filters: 3, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
            tf.layers.conv2d({ filters: 4, kernelSize: 2, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
            tf.layers.flatten(),
            tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
          ],
        }),
      [2, 9, 9, 2],
    );
  });

  it('wasm differentiates conv layers with linear activation (conv → BatchNorm) like the cpu reference, without leaks', async () => {
    await expectWasmMatchesCpu(
      () =>
        tf.sequential({
          layers: [
            tf.layers.conv2d({ inputShape: [8, 8, 2], filters: 3, kernelSize: 3, strides: 2, padding: 'same', activation: 'linear', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }),
            tf.layers.batchNormalization(),
            tf.layers.flatten(),
            tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }),
          ],
        }),
      [2, 8, 8, 2],
    );
  });

  it('wasm zero-copy Identity: clones share the buffer safely (values, independent disposal, no leaks)', async () => {
    await selectBackend('wasm');
    const before = tf.memory();
    const a = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const b = tf.clone(a);
    const c = tf.clone(b);
    a.dispose();
    expect(Array.from(await b.data())).toEqual([1, 2, 3, 4]);
    b.dispose();
    expect(Array.from(await c.data())).toEqual([1, 2, 3, 4]);
    const d = tf.add(c, 1);
    c.dispose();
    expect(Array.from(await d.data())).toEqual([2, 3, 4, 5]);
    d.dispose();
    const src = tf.tensor1d(['x', 'y'], 'string');
    const s = tf.clone(src); // strings keep the stock (copying) path
    expect(await s.data()).toEqual(['x', 'y']);
    tf.dispose([src, s]);
    const after = tf.memory();
    expect([after.numTensors, after.numBytes]).toEqual([before.numTensors, before.numBytes]);
  });
});
