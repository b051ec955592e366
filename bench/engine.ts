/**
 * npm run bench:engine — the attack engine, measured side by side in one run:
 *
 * 1. attack step (forward + input gradient of sum(max logit)) and forward times of the zoo MNIST
 *    SmallCNN (batch 32 and 128) and a CIFAR ResNet-18 (batch 32, random weights) on wasm with the
 *    stock kernels, wasm with our overrides (agent/engine/overrides.ts), the cpu backend (SmallCNN
 *    b32 only: it is slow), and PyTorch with the same thread count (bench/torch_engine.py; only where
 *    python3 can import torch: Debian's python3-torch, with libopenblas0-pthread);
 * 2. this machine's practical FLOP ceiling (a 1024³ float32 matmul on wasm) and the share of it a
 *    step reaches;
 * 3. whole-agent throughput: a σ-zero task (MNIST, 128 samples in batches of 32, 20 steps) on a
 *    TensorPool of 1 slot and of every core, in samples·steps per second.
 * The CIFAR ResNet-18 also runs through the ONNX importer (agent/models/onnx/): the same weights
 * written as an ONNX graph in PyTorch's layouts (test/helpers/onnx-build.ts, tfLayersToOnnx) and
 * loaded back; its step should be within 1.2× of the hand-built model's.
 * 4. the ONNX Runtime engine's rows (bench/ort-rows.ts) beside them, and the agent on that engine.
 * Each time is the median of --repeats runs after one warm-up. tfjs-wasm runs one thread in Node, so
 * PyTorch is pinned to one thread too (--torch-threads to change).
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { selectBackend } from '../agent/engine/backend.ts';
import { setWasmOverridesEnabled } from '../agent/engine/overrides.ts';
import { prepareForInputGradients } from '../agent/engine/linear-conv.ts';
import { loadLayersModelFolder } from '../agent/models/io.ts';
import { buildResNet18 } from '../agent/models/resnet18.ts';
import { onnxNetFromBytes } from '../agent/models/onnx/load.ts';
import { asNet, type Net } from '../agent/engine/net.ts';
import { tfLayersToOnnx } from '../test/helpers/onnx-build.ts';
import { zooModel } from '../agent/models/zoo.ts';
import { agentThroughput } from './agent-throughput.ts';
import { ortRows, ortTable } from './ort-rows.ts';

const { values } = parseArgs({
  options: {
    repeats: { type: 'string', default: '5' },
    'torch-threads': { type: 'string', default: '1' },
    'skip-stock-resnet': { type: 'boolean', default: false },
  },
});
const REPEATS = Number(values.repeats);

async function times(fn: () => Promise<void> | void, repeats: number): Promise<number[]> {
  await fn(); // warm-up (kernel set-up, weight packing, derived filters)
  const t: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b);
}

async function median(fn: () => Promise<void> | void, repeats = REPEATS): Promise<number> {
  const t = await times(fn, repeats);
  return t[Math.floor(t.length / 2)];
}

/** Multiply-accumulates of one forward per sample: conv and dense layers. */
function forwardMacs(model: tf.LayersModel): number {
  let macs = 0;
  for (const l of model.layers) {
    const cls = l.getClassName();
    const kernel = l.getWeights()[0];
    if (cls === 'Conv2D' && kernel) {
      const [, oh, ow, cout] = l.outputShape as number[];
      const [kh, kw, cin] = kernel.shape;
      macs += oh * ow * cout * kh * kw * cin;
    } else if (cls === 'Dense' && kernel) {
      macs += kernel.shape[0] * kernel.shape[1]!;
    }
  }
  return macs;
}

function timers(model: tf.LayersModel | Net, shape: [number, number, number, number]) {
  const net = asNet(model);
  const x = tf.randomUniform(shape, 0, 1, 'float32', 1) as tf.Tensor4D;
  const zero = tf.zerosLike(x);
  const loss = (d: tf.Tensor) => tf.sum(tf.max(net.apply(tf.add(x, d) as tf.Tensor4D), 1)) as tf.Scalar;
  return {
    forward: () =>
      median(() => {
        const y = tf.tidy(() => net.apply(x));
        y.dataSync();
        y.dispose();
      }),
    step: (repeats = REPEATS) =>
      median(() => {
        const g = tf.grad(loss)(zero);
        g.dataSync();
        g.dispose();
      }, repeats),
    dispose: () => tf.dispose([x, zero]),
  };
}

async function matmulGflops(): Promise<number> {
  const n = 1024;
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
  const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  // a ceiling is the best rate seen: the fastest of 2 × repeats runs (the median wanders with the
  // load of this shared machine)
  const [ms] = await times(() => {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
  }, 2 * REPEATS);
  tf.dispose([a, b]);
  return (2 * n ** 3) / (ms / 1000) / 1e9;
}

interface TorchResult {
  torch: string;
  threads: number;
  blas: string;
  results: Record<string, { forward: number; step: number }>;
}

function runTorch(): TorchResult | string {
  const candidates = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p);
  const python = candidates.find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
  if (!python) return 'PyTorch not found (apt-get install python3-torch libopenblas0-pthread)';
  const r = spawnSync(python, ['bench/torch_engine.py', '--threads', values['torch-threads']!, '--repeats', String(REPEATS)], { encoding: 'utf8' });
  if (r.status !== 0) return `bench/torch_engine.py failed: ${r.stderr.trim().split('\n').at(-1)}`;
  return JSON.parse(r.stdout) as TorchResult;
}

const cpuModel = os.cpus()[0]?.model.trim() ?? 'unknown cpu';
console.log(`# bench:engine (${new Date().toISOString()}, tfjs ${tf.version.tfjs}, ${cpuModel}, ${os.availableParallelism()} cores, median of ${REPEATS})\n`);

const torch = runTorch();
await selectBackend('wasm');
const ceiling = await matmulGflops();

interface Row {
  model: string;
  batch: number;
  forward: number;
  stock: number | null;
  fast: number;
  cpu: number | null;
  macs: number;
  torchKey: string;
}
const rows: Row[] = [];
const z = zooModel('mnist-smallcnn')!;

for (const batch of [32, 128]) {
  const net = await loadLayersModelFolder(z.dir, z.sha256); // relu convs only: nothing to prepare
  const m = timers(net, [batch, 28, 28, 1]);
  setWasmOverridesEnabled(false);
  const stock = await m.step();
  setWasmOverridesEnabled(true);
  const fast = await m.step();
  const forward = await m.forward();
  m.dispose();
  rows.push({ model: 'MNIST SmallCNN', batch, forward, stock, fast, cpu: null, macs: forwardMacs(net), torchKey: `smallcnn${batch}` });
}
{
  const stockNet = buildResNet18(1); // stock: fused linear convs, stock kernels
  const fastNet = buildResNet18(1); // same weights, prepared for input gradients
  prepareForInputGradients(fastNet);
  let stock: number | null = null;
  if (!values['skip-stock-resnet']) {
    setWasmOverridesEnabled(false);
    const s = timers(stockNet, [32, 32, 32, 3]);
    stock = await s.step(Math.min(REPEATS, 3)); // ~17 s a step: at most 3 repeats
    s.dispose();
  }
  setWasmOverridesEnabled(true);
  const f = timers(fastNet, [32, 32, 32, 3]);
  const fast = await f.step();
  const forward = await f.forward();
  f.dispose();
  rows.push({ model: 'CIFAR ResNet-18', batch: 32, forward, stock, fast, cpu: null, macs: forwardMacs(fastNet), torchKey: 'resnet18-32' });
  // the same network through the ONNX importer (BatchNorms folded into the convolutions at load)
  const onnxNet = onnxNetFromBytes(tfLayersToOnnx(fastNet), 'resnet18.onnx');
  const o = timers(onnxNet, [32, 32, 32, 3]);
  const onnxStep = await o.step();
  const onnxForward = await o.forward();
  o.dispose();
  rows.push({ model: 'CIFAR ResNet-18, ONNX import', batch: 32, forward: onnxForward, stock: null, fast: onnxStep, cpu: null, macs: forwardMacs(fastNet), torchKey: 'resnet18-32' });
}
await selectBackend('cpu');
{
  const net = await loadLayersModelFolder(z.dir, z.sha256);
  const m = timers(net, [32, 28, 28, 1]);
  rows[0].cpu = await m.step(Math.min(REPEATS, 3));
  m.dispose();
}

const cores = os.availableParallelism();
const thr1 = await agentThroughput(1, { engine: 'tfjs', samples: 128, batchSize: 32 });
const thrAll = await agentThroughput(cores, { engine: 'tfjs', samples: 128, batchSize: 32 });

const f1 = (v: number | null | undefined) => (v == null ? '–' : v.toFixed(1));
const pct = (step: number, macs: number, batch: number) => `${((100 * (4 * macs * batch)) / (step / 1000) / 1e9 / ceiling).toFixed(0)} %`; // step ≈ 2 × forward FLOPs = 4 × MACs
console.log(`wasm float32 matmul 1024³: ${ceiling.toFixed(1)} GFLOP/s, fastest run (this machine's practical wasm ceiling; tfjs-wasm runs one thread in Node)`);
console.log(typeof torch === 'string' ? `PyTorch: ${torch}` : `PyTorch ${torch.torch}, ${torch.threads} thread(s), BLAS ${torch.blas}`);
console.log('');
console.log('| model | batch | wasm forward ms | wasm step ms, stock | wasm step ms, overrides | speed-up | cpu step ms | PyTorch forward ms | PyTorch step ms | wasm step / PyTorch step | step, % of wasm ceiling |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const t = typeof torch === 'string' ? undefined : torch.results[r.torchKey];
  console.log(
    `| ${r.model} | ${r.batch} | ${f1(r.forward)} | ${f1(r.stock)} | ${f1(r.fast)} | ${r.stock ? (r.stock / r.fast).toFixed(2) + '×' : '–'} | ${f1(r.cpu)} | ${f1(t?.forward)} | ${f1(t?.step)} | ${t ? (r.fast / t.step).toFixed(2) + '×' : '–'} | ${pct(r.fast, r.macs, r.batch)} |`,
  );
}
const handBuilt = rows.find((r) => r.model === 'CIFAR ResNet-18');
const imported = rows.find((r) => r.model === 'CIFAR ResNet-18, ONNX import');
if (handBuilt && imported) console.log(`\nONNX-imported / hand-built ResNet-18 wasm step: ${(imported.fast / handBuilt.fast).toFixed(2)}× (target ≤ 1.2×)`);
console.log('');
console.log('| agent (σ-zero, MNIST SmallCNN, 128 samples, batch 32, 20 steps, wasm) | samples·steps / s |');
console.log('|---|---:|');
console.log(`| 1 slot | ${thr1.toFixed(0)} |`);
console.log(`| ${cores} slots | ${thrAll.toFixed(0)} |`);
console.log(`| ratio | ${(thrAll / thr1).toFixed(2)}× |`);

// ONNX Runtime engine (agent/engine/ort/): the same steps, and the agent on that engine
const ort = ortRows(buildResNet18(1), REPEATS);
console.log('');
console.log(ortTable(ort, typeof torch === 'string' ? undefined : torch.results, (o) => rows.find((r) => r.model === o.model && r.batch === o.batch)?.fast));
const ortThr1 = await agentThroughput(1, { engine: 'ort', samples: 128, batchSize: 32 });
const ortThrAll = await agentThroughput(cores, { engine: 'ort', samples: 128, batchSize: 32 });
console.log('');
console.log('| agent (σ-zero, MNIST SmallCNN, 128 samples, batch 32, 20 steps, ONNX Runtime engine) | samples·steps / s |');
console.log('|---|---:|');
console.log(`| 1 slot | ${ortThr1.toFixed(0)} |`);
console.log(`| ${cores} slots | ${ortThrAll.toFixed(0)} |`);
console.log(`| ratio | ${(ortThrAll / ortThr1).toFixed(2)}× |`);
