/**
 * Write the ONNX twin of a zoo LayersModel and check it:
 *
 *   node --import tsx agent/models/onnx-export/cli.ts mnist-smallcnn [--out FILE] [--check 100]
 *
 * writes agent/models/zoo/<name>/model.onnx (or --out), runs both the tfjs model and the twin (ONNX
 * Runtime) on the first --check test images of the model's dataset and fails unless every logit
 * agrees to 1e-5 (absolute, or relative to the logit's magnitude when that is above 1), then prints
 * the twin's sha256 and the `onnxTwin` entry for agent/models/zoo/manifest.json.
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { selectBackend } from '../../engine/backend.ts';
import { loadLayersModelFolder } from '../io.ts';
import { ZOO_DIR, zooModel } from '../zoo.ts';
import { readMnist } from '../../data/mnist.ts';
import { exportLayersModel } from './export.ts';
import { OrtModel } from '../../engine/ort/classifier.ts';

export const TWIN_TOLERANCE = 1e-5;

/** Largest |a − b| / max(1, |b|) over two logit arrays. */
export function logitGap(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return worst;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { out: { type: 'string' }, check: { type: 'string', default: '100' } } });
  const name = positionals[0];
  const z = name ? zooModel(name) : undefined;
  if (!z || z.format !== 'tfjs-layers') throw new Error(`usage: cli.ts <zoo LayersModel name>; '${name ?? ''}' is not one`);
  if (z.dataset !== 'mnist') throw new Error(`the check reads MNIST; ${name} is a ${z.dataset} model`);
  await selectBackend('wasm');
  const model = await loadLayersModelFolder(z.dir, z.sha256);
  const bytes = exportLayersModel(model, name);
  const out = values.out ?? path.join(z.dir, 'model.onnx');
  writeFileSync(out, bytes);
  const n = Number(values.check);
  const data = readMnist('test');
  const d = 28 * 28;
  const x = data.images.subarray(0, n * d);
  const ref = tf.tidy(() => model.predict(tf.tensor4d(x, [n, 28, 28, 1])) as tf.Tensor).dataSync();
  const ort = new OrtModel(bytes, { threads: 1, provider: 'cpu' });
  const gap = logitGap(ort.logits(Float32Array.from(x), n), ref);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  console.log(`wrote ${out} (${bytes.length} bytes), sha256 ${sha256}`);
  console.log(`logits on ${n} ${z.dataset} test images: largest gap ${gap.toExponential(2)} (tolerance ${TWIN_TOLERANCE})`);
  console.log(`manifest: "onnxTwin": ${JSON.stringify({ path: path.relative(ZOO_DIR, out), sha256 })}`);
  if (!(gap <= TWIN_TOLERANCE)) throw new Error(`the twin disagrees with the tfjs model (gap ${gap})`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: Error) => {
    console.error(e.message);
    process.exit(1);
  });
}
