/**
 * npm run bench:sigma-zero — σ-zero end to end, side by side in one run (one thread each):
 *
 * 1. σ-zero on --n MNIST test images (default 100), N = --steps (100), batches of --batch (100), on
 *    the zoo SmallCNN with three engines: ONNX Runtime (its ONNX twin, agent/engine/ort/), tfjs-wasm
 *    (the LayersModel), and PyTorch running bench/torch/sigma_zero_ref.py — a re-statement of the
 *    official loop for timing, on the same weights (exported here; the script checks its logits
 *    against ONNX Runtime's) — only where python3 can import torch (Debian's python3-torch);
 *    seconds per sample (wall and CPU), the ratio to PyTorch, median ℓ0, ASR_10 and ASR_∞;
 * 2. where a step's time goes on the ORT engine: inside ONNX Runtime vs the attack's tfjs work;
 * 3. --slots: agent throughput (TensorPool, ORT engine) with 1 slot and with every core;
 * 4. --compare-engines: ORT vs tfjs on --compare-n (1000) images, N = 100: median ℓ0 and ASR_∞
 *    must be equal and |ΔASR_10| ≤ 2 (float summation order differs between the engines, so
 *    per-sample identity is not expected); exits 1 otherwise.
 * Timings are only meaningful on a quiet machine: the load average is printed with them.
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { selectBackend } from '../agent/engine/backend.ts';
import { MeteredModel } from '../agent/engine/metered-model.ts';
import { prepareForInputGradients } from '../agent/engine/linear-conv.ts';
import { OrtClassifier, type CountingClassifier } from '../agent/engine/ort/classifier.ts';
import { loadOrtModel } from '../agent/engine/ort/engine.ts';
import { sessionStats } from '../agent/engine/ort/session.ts';
import { loadLayersModelFolder } from '../agent/models/io.ts';
import { convKernel } from '../agent/models/onnx-export/export.ts';
import { ZOO_DIR, zooModel } from '../agent/models/zoo.ts';
import { readMnist } from '../agent/data/mnist.ts';
import { sigmaZero } from '../agent/attacks/sigma-zero.ts';
import { predict } from '../agent/attacks/losses.ts';
import { agentThroughput } from './agent-throughput.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '100' },
    steps: { type: 'string', default: '100' },
    batch: { type: 'string', default: '100' },
    'compare-engines': { type: 'boolean', default: false },
    'compare-n': { type: 'string', default: '1000' },
    slots: { type: 'boolean', default: false },
    'no-torch': { type: 'boolean', default: false },
    'no-wasm': { type: 'boolean', default: false },
  },
});
const N_IMAGES = Number(values.n);
const STEPS = Number(values.steps);
const BATCH = Number(values.batch);

interface EngineRun {
  engine: string;
  seconds: number;
  cpuSeconds: number;
  /** per sample: ℓ0 of a success, null for a failure */
  l0: Array<number | null>;
  ortMs?: number;
}

const data = readMnist('test');
const D = 28 * 28;
const z = zooModel('mnist-smallcnn')!;
await selectBackend('wasm');
const layers = await loadLayersModelFolder(z.dir, z.sha256);
prepareForInputGradients(layers);
const ortModel = loadOrtModel(path.join(ZOO_DIR, z.onnxTwin!.path), z.onnxTwin!.sha256, 'cpu', 1);

/** σ-zero over the first n test images in batches; evaluation as the sweep does it (clamp, fresh forward, ℓ0 in float32). */
async function runEngine(engine: string, model: CountingClassifier, n: number): Promise<EngineRun> {
  const isOrt = model instanceof OrtClassifier;
  const warm = tf.tensor4d(data.images.subarray(0, 2 * D), [2, 28, 28, 1]);
  const wy = tf.tensor1d(Int32Array.from(data.labels.subarray(0, 2)), 'int32');
  tf.dispose((await sigmaZero(model, warm, wy, { steps: 2 })).adversarials); // sessions, kernels, packed weights
  tf.dispose([warm, wy]);
  const l0: Array<number | null> = [];
  let seconds = 0;
  const ort0 = sessionStats.ms;
  const c0 = process.cpuUsage();
  for (let s = 0; s < n; s += BATCH) {
    const m = Math.min(BATCH, n - s);
    const clean = data.images.subarray(s * D, (s + m) * D);
    const x = tf.tensor4d(clean, [m, 28, 28, 1]);
    const labels = Int32Array.from(data.labels.subarray(s, s + m));
    const y = tf.tensor1d(labels, 'int32');
    const t0 = performance.now();
    const r = await sigmaZero(model, x, y, { steps: STEPS });
    await r.adversarials.data();
    seconds += (performance.now() - t0) / 1000;
    const adv = tf.tidy(() => tf.clipByValue(r.adversarials, 0, 1));
    const advV = adv.dataSync();
    const pred = tf.tidy(() => predict(model.forward(adv as tf.Tensor4D))).dataSync();
    for (let k = 0; k < m; k++) {
      let cnt = 0;
      for (let i = 0; i < D; i++) if (advV[k * D + i] !== clean[k * D + i]) cnt++;
      l0.push(pred[k] !== labels[k] ? cnt : null);
    }
    tf.dispose([x, y, adv, r.adversarials]);
  }
  const c = process.cpuUsage(c0);
  return { engine, seconds, cpuSeconds: (c.user + c.system) / 1e6, l0, ortMs: isOrt ? sessionStats.ms - ort0 : undefined };
}

function summary(l0: Array<number | null>): { median: number; asr10: number; asrInf: number } {
  const v = l0.map((x) => x ?? Infinity).sort((a, b) => a - b);
  const n = v.length;
  const median = n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return { median, asr10: (100 * v.filter((x) => x <= 10).length) / n, asrInf: (100 * v.filter((x) => x < Infinity).length) / n };
}

interface TorchRun extends EngineRun {
  version: string;
  logitGap: number;
}

function findPython(): string | null {
  const candidates = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p);
  return candidates.find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) ?? null;
}

/** Export the SmallCNN's weights (PyTorch layouts), the images and ORT's logits, and run the re-statement. */
function runTorch(n: number, freeze: boolean): TorchRun | string {
  const python = findPython();
  if (!python) return 'PyTorch not found (apt-get install python3-torch)';
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sigma-zero-bench-'));
  try {
    const parts: Array<[string, number[], Float32Array]> = [];
    const names = [['c1', 0], ['c2', 1], ['c3', 3], ['c4', 4], ['f1', 7], ['f2', 8], ['f3', 9]] as const;
    for (const [name, i] of names) {
      const [k, b] = layers.layers[i].getWeights().map((t) => ({ shape: t.shape, data: t.dataSync() as Float32Array }));
      if (name.startsWith('c')) {
        const [kh, kw, cin, cout] = k.shape;
        parts.push([`${name}.weight`, [cout, cin, kh, kw], convKernel(k.data, k.shape)]);
      } else {
        const [din, dout] = k.shape;
        const t = new Float32Array(k.data.length);
        for (let a = 0; a < din; a++) for (let o = 0; o < dout; o++) t[o * din + a] = k.data[a * dout + o];
        parts.push([`${name}.weight`, [dout, din], t]);
      }
      parts.push([`${name}.bias`, [b.shape[0]], b.data]);
    }
    const images = data.images.subarray(0, n * D); // one channel: NHWC bytes are NCHW bytes
    parts.push(['images', [n, 1, 28, 28], Float32Array.from(images)]);
    parts.push(['labels', [n], Float32Array.from(data.labels.subarray(0, n))]);
    parts.push(['logits', [n, 10], ortModel.logits(Float32Array.from(images), n)]);
    const tensors: Record<string, { shape: number[]; offset: number }> = {};
    let offset = 0;
    for (const [name, shape, arr] of parts) {
      tensors[name] = { shape, offset };
      offset += arr.length;
    }
    const all = new Float32Array(offset);
    for (const [name, , arr] of parts) all.set(arr, tensors[name].offset);
    writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ tensors }));
    writeFileSync(path.join(dir, 'data.bin'), new Uint8Array(all.buffer));
    const args = ['bench/torch/sigma_zero_ref.py', '--data', dir, '--threads', '1', '--steps', String(STEPS), '--batch', String(BATCH), ...(freeze ? ['--freeze'] : [])];
    const r = spawnSync(python, args, { encoding: 'utf8' });
    if (r.status !== 0) return `bench/torch/sigma_zero_ref.py failed: ${r.stderr.trim().split('\n').at(-1)}`;
    const out = JSON.parse(r.stdout) as { torch: string; logitGap: number; seconds: number; cpuSeconds: number; l0: Array<number | null> };
    return { engine: freeze ? 'PyTorch (frozen weights)' : 'PyTorch', version: out.torch, logitGap: out.logitGap, seconds: out.seconds, cpuSeconds: out.cpuSeconds, l0: out.l0 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const cpuModel = os.cpus()[0]?.model.trim() ?? 'unknown cpu';
console.log(`# bench:sigma-zero (${new Date().toISOString()}, ${cpuModel}, ${os.availableParallelism()} cores, load average ${os.loadavg()[0].toFixed(2)} at start)`);
console.log(`# σ-zero, ${N_IMAGES} MNIST test images, N=${STEPS}, batch ${BATCH}, one thread per engine, zoo mnist-smallcnn\n`);

const runs: EngineRun[] = [];
const notes: string[] = [];
if (!values['no-torch']) {
  for (const freeze of [false, true]) {
    const t = runTorch(N_IMAGES, freeze);
    if (typeof t === 'string') {
      notes.push(`PyTorch: ${t}`);
      break;
    }
    if (!freeze) notes.push(`PyTorch ${t.version}, 1 thread; its logits vs ONNX Runtime's: largest gap ${t.logitGap.toExponential(1)}`);
    runs.push(t);
  }
}
const ort = new OrtClassifier(ortModel);
runs.push(await runEngine('ONNX Runtime (ort-cpu)', ort, N_IMAGES));
if (!values['no-wasm']) runs.push(await runEngine('tfjs-wasm', new MeteredModel(layers), N_IMAGES));

const torchRun = runs.find((r) => r.engine === 'PyTorch');
console.log('| engine | s/sample (wall) | s/sample (CPU) | ÷ PyTorch (wall) | ÷ PyTorch (CPU) | median ℓ0 | ASR_10 | ASR_∞ |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of runs) {
  const s = summary(r.l0);
  const ratio = (a: number, b: number | undefined) => (b ? `${(a / b).toFixed(2)}×` : '–');
  console.log(
    `| ${r.engine} | ${(r.seconds / N_IMAGES).toFixed(4)} | ${(r.cpuSeconds / N_IMAGES).toFixed(4)} | ${ratio(r.seconds, torchRun?.seconds)} | ${ratio(r.cpuSeconds, torchRun?.cpuSeconds)} | ${s.median} | ${s.asr10.toFixed(1)} | ${s.asrInf.toFixed(1)} |`,
  );
}
const o = runs.find((r) => r.ortMs !== undefined)!;
console.log(
  `\nORT engine, where the time goes: ${(o.ortMs! / 1000).toFixed(2)} s inside ONNX Runtime (${((100 * o.ortMs!) / 1000 / o.seconds).toFixed(0)} %), ` +
    `${(o.seconds - o.ortMs! / 1000).toFixed(2)} s in the attack's tfjs work and transfers; ${(o.seconds / (Math.ceil(N_IMAGES / BATCH) * STEPS) * 1000).toFixed(1)} ms per step of ${BATCH}`,
);
for (const n of notes) console.log(n);
console.log(`load average at the end: ${os.loadavg()[0].toFixed(2)}`);

if (values.slots) {
  const cores = os.availableParallelism();
  const one = await agentThroughput(1, { engine: 'ort', samples: 200, batchSize: 100 });
  const all = await agentThroughput(cores, { engine: 'ort', samples: 200, batchSize: 100 });
  console.log('\n| agent (σ-zero, ORT engine, 200 samples, batch 100, 20 steps) | samples·steps / s |');
  console.log('|---|---:|');
  console.log(`| 1 slot | ${one.toFixed(0)} |`);
  console.log(`| ${cores} slots | ${all.toFixed(0)} |`);
  console.log(`| ratio | ${(all / one).toFixed(2)}× |`);
}

if (values['compare-engines']) {
  const n = Number(values['compare-n']);
  const a = summary((await runEngine('ort', new OrtClassifier(ortModel), n)).l0);
  const b = summary((await runEngine('tfjs', new MeteredModel(layers), n)).l0);
  const ok = a.median === b.median && a.asrInf === b.asrInf && Math.abs(a.asr10 - b.asr10) <= 2;
  console.log(`\ncompare engines, ${n} images, N=${STEPS}: ORT median ℓ0 ${a.median}, ASR_10 ${a.asr10.toFixed(1)}, ASR_∞ ${a.asrInf.toFixed(1)}; tfjs ${b.median}, ${b.asr10.toFixed(1)}, ${b.asrInf.toFixed(1)}: ${ok ? 'agree' : 'DISAGREE'}`);
  if (!ok) process.exitCode = 1;
}
