/**
 * ONNX classifier → the engine's Net (agent/engine/net.ts).
 *
 * The contract is read from the graph: one float input [N, C, H, W] (N a symbol or a number; C, H,
 * W fixed) and one output; the Net takes NHWC [N, H, W, C] batches in [0, 1] and returns [N,
 * classes] logits. The NHWC batch is exactly the NCHW input held NHWC (layout.ts), so it enters
 * the graph without a transpose.
 *
 * Value range: torch.onnx exports in this field take [0, 1] inputs and normalise inside the model.
 * A model that expects another range says so in its metadata, `sigma_sweep.input_range` = "lo,hi"
 * (e.g. "0,255"); apply() then feeds lo + x·(hi − lo). Without it [0, 1] is assumed and reported
 * (inputRange.source = 'assumed').
 *
 * At load, after constant folding, two probe forwards (batches of 2 and 3 of the same seeded random
 * inputs) run every node once, which is where weights are prepared and unsupported attributes
 * found, and check that the output is [batch, classes] for both and that a sample's logits do not
 * depend on the rest of its batch (a graph with a batch size baked into a reshape would fail here
 * rather than mix samples).
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Net } from '../../engine/net.ts';
import { decodeModelProto, DecodeError, toGraph } from './decode.ts';
import { OnnxDigestError, OnnxGraphError, OnnxModelError, withFile } from './errors.ts';
import { foldBatchNorms } from './fuse.ts';
import { dtypeName, formatDims, type OnnxGraph } from './ir.ts';
import { nhwcHeld, toPlain } from './layout.ts';
import { OnnxProgram } from './program.ts';

export const INPUT_RANGE_KEY = 'sigma_sweep.input_range';

export interface InputRange {
  min: number;
  max: number;
  /** 'metadata': the model's sigma_sweep.input_range; 'assumed': none given, [0, 1] taken */
  source: 'metadata' | 'assumed';
}

export interface OnnxNet extends Net {
  readonly format: 'onnx';
  readonly inputRange: InputRange;
  /** the graph's input and output names, its default-domain opset and producer, for messages */
  readonly inputName: string;
  readonly outputName: string;
  readonly opset: number;
  readonly producer: string;
  /** nodes folded to constants at load, and nodes that run per forward (incl. shape computations) */
  readonly foldedNodes: number;
  readonly runtimeNodes: number;
}

function inputRange(file: string, g: OnnxGraph): InputRange {
  const v = g.metadata.get(INPUT_RANGE_KEY);
  if (v === undefined) return { min: 0, max: 1, source: 'assumed' };
  // "lo,hi", optionally bracketed ("[0,1]", as a JSON list would print it)
  const parts = v.trim().replace(/^\[(.*)\]$/, '$1').split(',').map((s) => Number(s.trim()));
  if (parts.length !== 2 || parts.some((p) => !Number.isFinite(p)) || parts[0] >= parts[1]) {
    throw new OnnxGraphError(file, `metadata ${INPUT_RANGE_KEY} = '${v}' is not "lo,hi" (or "[lo,hi]") with lo < hi`);
  }
  return { min: parts[0], max: parts[1], source: 'metadata' };
}

function inputContract(file: string, g: OnnxGraph): { name: string; C: number; H: number; W: number; fixedBatch: number | null } {
  if (g.inputs.length !== 1) {
    throw new OnnxGraphError(file, `a classifier needs exactly one graph input (besides initializers); this graph has ${g.inputs.length}: ${g.inputs.map((i) => i.name).join(', ') || 'none'}`);
  }
  const inp = g.inputs[0];
  if (inp.elemType !== 1) throw new OnnxGraphError(file, `graph input '${inp.name}' has element type ${dtypeName(inp.elemType)}; a float (FLOAT) image batch is required`);
  const s = inp.shape;
  if (!s || s.length !== 4) {
    throw new OnnxGraphError(file, `graph input '${inp.name}' has shape ${s ? formatDims(s) : 'of unknown rank'}; an image batch [N, C, H, W] (NCHW, as torch.onnx.export writes it) is required`);
  }
  const [n, C, H, W] = s;
  for (const [d, what] of [[C, 'C'], [H, 'H'], [W, 'W']] as const) {
    if (typeof d !== 'number' || d < 1) throw new OnnxGraphError(file, `graph input '${inp.name}' has shape ${formatDims(s)}: ${what} must be a fixed size`);
  }
  return { name: inp.name, C: C as number, H: H as number, W: W as number, fixedBatch: typeof n === 'number' && n > 0 ? n : null };
}

/** Seeded uniform [0, 1) probe inputs (the same first rows for both probe batches). */
function probeInput(n: number, H: number, W: number, C: number): tf.Tensor4D {
  let s = 0x9e3779b9;
  const v = new Float32Array(n * H * W * C);
  for (let i = 0; i < v.length; i++) {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    v[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  return tf.tensor4d(v, [n, H, W, C]);
}

/** Decode a model (errors name `name`). */
export function decodeOnnx(bytes: Uint8Array, name: string): OnnxGraph {
  try {
    return toGraph(decodeModelProto(bytes));
  } catch (e) {
    if (e instanceof DecodeError) throw new OnnxModelError(name, e.message);
    throw withFile(name, e, 'decoding');
  }
}

/** The graph's program: BatchNorms folded, constants evaluated; any graph, not only classifiers (tests). */
export function compileOnnx(graph: OnnxGraph, name: string): OnnxProgram {
  try {
    return new OnnxProgram(foldBatchNorms(graph), graph.inputs.map((i) => i.name));
  } catch (e) {
    throw withFile(name, e, 'folding constants');
  }
}

export function onnxNetFromBytes(bytes: Uint8Array, name: string): OnnxNet {
  const graph = decodeOnnx(bytes, name);
  const io = inputContract(name, graph);
  if (graph.outputs.length !== 1) throw new OnnxGraphError(name, `a classifier needs exactly one graph output; this graph has ${graph.outputs.length}: ${graph.outputs.map((o) => o.name).join(', ')}`);
  const range = inputRange(name, graph);
  const program = compileOnnx(graph, name);
  const scale = range.max - range.min;
  const forward = (x: tf.Tensor4D): tf.Tensor2D =>
    tf.tidy(() => {
      const fed = range.source === 'assumed' || (range.min === 0 && scale === 1) ? x : (tf.add(tf.mul(x, scale), range.min) as tf.Tensor4D);
      const [out] = program.run(new Map([[io.name, nhwcHeld(fed)]]), { batch: x.shape[0], fixedBatch: io.fixedBatch });
      return toPlain(out) as tf.Tensor2D;
    });

  // probes: every node runs once at load
  let classes = 0;
  try {
    const rows: Float32Array[] = [];
    for (const n of [2, 3]) {
      const x = probeInput(n, io.H, io.W, io.C);
      const y = forward(x);
      x.dispose();
      const shape = y.shape;
      const data = y.dataSync() as Float32Array;
      y.dispose();
      if (shape.length !== 2 || shape[0] !== n) {
        throw new OnnxGraphError(name, `graph output '${graph.outputs[0].name}' has shape [${shape.join(', ')}] for a batch of ${n}; a classifier's output must be [batch, classes]${io.fixedBatch !== null ? ` (the graph fixes its batch size to ${io.fixedBatch}: re-export with dynamic_axes={'${io.name}': {0: 'batch'}})` : ''}`);
      }
      if (classes && shape[1] !== classes) throw new OnnxGraphError(name, `the number of classes changes with the batch size (${classes}, ${shape[1]})`);
      classes = shape[1];
      rows.push(data);
    }
    const [a, b] = rows;
    for (let i = 0; i < a.length; i++) {
      if (!(Math.abs(a[i] - b[i]) <= 1e-3 * Math.max(1, Math.abs(a[i]))) && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) {
        throw new OnnxGraphError(name, `the logits of a sample change with the other samples in its batch (sample ${Math.floor(i / classes)}, class ${i % classes}: ${a[i]} in a batch of 2, ${b[i]} in a batch of 3): the graph mixes samples (a batch size baked into a reshape?)`);
      }
    }
  } catch (e) {
    const err = withFile(name, e, 'running the graph');
    if (io.fixedBatch !== null && !err.message.includes('dynamic_axes')) {
      // a batch size baked into the graph (Expand, Concat with constants) is the likely cause
      err.message += ` (the graph fixes its batch size to ${io.fixedBatch}; re-export with dynamic_axes={'${io.name}': {0: 'batch'}})`;
    }
    throw err;
  }

  return {
    format: 'onnx',
    inputShapes: [[null, io.H, io.W, io.C]],
    outputShapes: [[null, classes]],
    inputRange: range,
    inputName: io.name,
    outputName: graph.outputs[0].name,
    opset: graph.opset,
    producer: graph.producer,
    foldedNodes: program.folded,
    runtimeNodes: program.steps.length,
    apply: forward,
  };
}

/** Load an .onnx file, verifying the sha256 of its bytes first. */
export async function loadOnnxNet(file: string, sha256: string): Promise<OnnxNet> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new OnnxModelError(file, `cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== sha256) throw new OnnxDigestError(file, sha256, actual);
  return onnxNetFromBytes(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file);
}
