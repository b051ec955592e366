/**
 * The ONNX Runtime rows of `npm run bench:engine`: the same step (a forward and the input gradient
 * of a logits loss, one thread) on the engine of agent/engine/ort/, for the zoo SmallCNN's ONNX
 * twin (b32, b128) and the CIFAR ResNet-18 (b32) written to ONNX by agent/models/onnx-export at
 * bench time (random weights, never committed). The step is one run of the in-graph margin head —
 * the same forward and backward work as the wasm rows' sum(max logit). Printed beside the wasm and
 * PyTorch rows of the same models.
 */
import os from 'node:os';
import path from 'node:path';
import { OrtModel } from '../agent/engine/ort/classifier.ts';
import { loadOrtModel } from '../agent/engine/ort/engine.ts';
import { exportLayersModel } from '../agent/models/onnx-export/export.ts';
import { ZOO_DIR, zooModel } from '../agent/models/zoo.ts';
import type * as tf from '@tensorflow/tfjs';

export interface OrtRow {
  model: string;
  batch: number;
  forward: number;
  step: number;
  torchKey: string;
}

function medianMs(fn: () => void, repeats: number): number {
  fn();
  fn(); // warm-up: session set-up, packed weights, arena growth
  const t: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b)[Math.floor(t.length / 2)];
}

function time(model: OrtModel, batch: number, repeats: number): { forward: number; step: number } {
  const [h, w, c] = model.sampleShape;
  let seed = 1;
  const x = Float32Array.from({ length: batch * h * w * c }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31));
  const labels = Int32Array.from({ length: batch }, (_, i) => i % model.numClasses);
  return {
    forward: medianMs(() => model.logits(x, batch), repeats),
    step: medianMs(() => model.headStep(x, batch, 'margin', labels, 1), repeats),
  };
}

/** ORT rows for the SmallCNN twin (b32, b128) and a ResNet-18 LayersModel (b32), one intra-op thread. */
export function ortRows(resnet: tf.LayersModel, repeats: number): OrtRow[] {
  const z = zooModel('mnist-smallcnn')!;
  const small = loadOrtModel(path.join(ZOO_DIR, z.onnxTwin!.path), z.onnxTwin!.sha256, 'cpu', 1);
  const rows: OrtRow[] = [];
  for (const batch of [32, 128]) rows.push({ model: 'MNIST SmallCNN', batch, ...time(small, batch, repeats), torchKey: `smallcnn${batch}` });
  const r = new OrtModel(exportLayersModel(resnet), { threads: 1, provider: 'cpu' });
  rows.push({ model: 'CIFAR ResNet-18', batch: 32, ...time(r, 32, repeats), torchKey: 'resnet18-32' });
  r.dispose();
  return rows;
}

/** The rows as a Markdown table beside PyTorch's and the wasm engine's step times. */
export function ortTable(rows: OrtRow[], torch: Record<string, { forward: number; step: number }> | undefined, wasmStep: (r: OrtRow) => number | undefined): string {
  const f1 = (v: number | undefined) => (v == null ? '–' : v.toFixed(1));
  const ratio = (a: number, b: number | undefined) => (b ? `${(a / b).toFixed(2)}×` : '–');
  const lines = [
    `ONNX Runtime engine (onnxruntime-node, CPU/MLAS, 1 intra-op thread, ${os.cpus()[0]?.model.trim() ?? 'cpu'}):`,
    '',
    '| model | batch | ORT forward ms | ORT step ms | PyTorch step ms | ORT step / PyTorch step | wasm step / ORT step |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const t = torch?.[r.torchKey];
    const w = wasmStep(r);
    lines.push(`| ${r.model} | ${r.batch} | ${f1(r.forward)} | ${f1(r.step)} | ${f1(t?.step)} | ${ratio(r.step, t?.step)} | ${w ? (w / r.step).toFixed(2) + '×' : '–'} |`);
  }
  return lines.join('\n');
}
