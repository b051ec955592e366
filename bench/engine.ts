/**
 * npm run bench:engine — attack-step and forward times of the zoo SmallCNN, measured side by side
 * in one run: wasm with the stock gradient kernels, wasm with the forward-kernel Conv2D gradients
 * (agent/engine/conv-grad.ts), and the cpu backend (batch 32 only; it is slow). Each number is the
 * median of `--repeats` timed runs after one warm-up. Also prints the wasm FLOP rate of a large
 * float32 matmul as this machine's practical ceiling, and what fraction of it a step reaches.
 * (PyTorch side by side and the CIFAR ResNet-18 are not in this version; see issue 4.)
 */
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { selectBackend } from '../agent/engine/backend.ts';
import { setWasmOverridesEnabled } from '../agent/engine/overrides.ts';
import { loadTaskModel } from '../agent/models/load.ts';
import { zooModel } from '../agent/models/zoo.ts';

const { values } = parseArgs({ options: { repeats: { type: 'string', default: '5' } } });
const REPEATS = Number(values.repeats);

async function median(fn: () => Promise<void>): Promise<number> {
  await fn(); // warm-up (kernel set-up, weight packing)
  const t: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b)[Math.floor(t.length / 2)];
}

// multiply-accumulates of one SmallCNN forward per sample (valid 3×3 convs, dense layers)
const SMALLCNN_MACS = 26 * 26 * 32 * 9 + 24 * 24 * 32 * 32 * 9 + 10 * 10 * 64 * 32 * 9 + 8 * 8 * 64 * 64 * 9 + 1024 * 200 + 200 * 200 + 200 * 10;

async function measure(batch: number) {
  const z = zooModel('mnist-smallcnn')!;
  const net = await loadTaskModel({ name: 'mnist-smallcnn', sha256: z.sha256 });
  const x = tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
  const forward = () => median(async () => {
    const y = tf.tidy(() => net.apply(x, { training: false }) as tf.Tensor);
    await y.data();
    y.dispose();
  });
  const step = () => median(async () => {
    const g = tf.tidy(() => tf.grad((d: tf.Tensor) => tf.sum(tf.max(net.apply(tf.add(x, d), { training: false }) as tf.Tensor, 1)))(tf.zerosLike(x)));
    await g.data();
    g.dispose();
  });
  return { forward, step, dispose: () => x.dispose() };
}

async function matmulGflops(): Promise<number> {
  const n = 1024;
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  const ms = await median(async () => {
    const c = tf.matMul(a, b);
    await c.data();
    c.dispose();
  });
  tf.dispose([a, b]);
  return (2 * n ** 3) / (ms / 1000) / 1e9;
}

console.log(`# bench:engine (${new Date().toISOString()}, tfjs ${tf.version.tfjs}, median of ${REPEATS})\n`);
const rows: string[] = [];
await selectBackend('wasm');
const ceiling = await matmulGflops();
for (const batch of [32, 128]) {
  const m = await measure(batch);
  setWasmOverridesEnabled(false);
  const stockStep = await m.step();
  setWasmOverridesEnabled(true);
  const fastStep = await m.step();
  const fwd = await m.forward();
  m.dispose();
  const gflops = (2 * 2 * SMALLCNN_MACS * batch) / (fastStep / 1000) / 1e9; // forward + input-gradient backward ≈ 2× the forward MACs
  rows.push(`| SmallCNN | ${batch} | wasm | ${fwd.toFixed(1)} | ${stockStep.toFixed(1)} | ${fastStep.toFixed(1)} | ${(stockStep / fastStep).toFixed(2)}× | ${((100 * gflops) / ceiling).toFixed(0)} % |`);
}
await selectBackend('cpu');
{
  const m = await measure(32);
  const fwd = await m.forward();
  const st = await m.step();
  m.dispose();
  rows.push(`| SmallCNN | 32 | cpu | ${fwd.toFixed(1)} | ${st.toFixed(1)} | – | – | – |`);
}
console.log(`wasm float32 matmul 1024³: ${ceiling.toFixed(1)} GFLOP/s (single thread: tfjs-wasm runs one thread in Node)\n`);
console.log('| model | batch | backend | forward ms | step ms, stock kernels | step ms, forward-kernel conv grads | speed-up | % of matmul ceiling |');
console.log('|---|---:|---|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(r);
