/**
 * Conv → BatchNormalization folding, before anything runs. An inference batch norm is a per-channel
 * affine map; when it is the only consumer of a convolution's output, it folds into the
 * convolution's weights and bias (W'[o] = W[o]·s[o], b'[o] = b[o]·s[o] + t[o], computed in float64
 * and rounded once), so a ResNet block runs conv (+ bias) instead of conv then two element-wise
 * passes over the activation, both forward and backward. Values differ from PyTorch's unfused
 * conv → BN only by float32 rounding (the fixture tests bound it).
 *
 * Only the plain case is folded (constant parameters from initializers, inference attributes);
 * anything else is left to the BatchNormalization op, which reports what it does not support.
 */
import type { Attr, HostTensor, OnnxGraph, OnnxNode } from './ir.ts';

const BN_ATTRS = new Set(['epsilon', 'momentum', 'training_mode', 'spatial', 'is_test']);

function attrNumber(n: OnnxNode, name: string, dflt: number): number {
  const a = n.attrs.get(name) as Attr | undefined;
  return a && (a.type === 'int' || a.type === 'float') ? a.value : dflt;
}

function foldable(bn: OnnxNode, init: ReadonlyMap<string, HostTensor>): boolean {
  if (bn.opType !== 'BatchNormalization' || (bn.domain !== '' && bn.domain !== 'ai.onnx') || bn.inputs.length !== 5) return false;
  if (bn.outputs.slice(1).some((o) => o !== '')) return false;
  for (const k of bn.attrs.keys()) if (!BN_ATTRS.has(k)) return false;
  if (attrNumber(bn, 'training_mode', 0) !== 0 || attrNumber(bn, 'spatial', 1) !== 1) return false;
  return bn.inputs.slice(1).every((i) => init.get(i)?.dtype === 'float32');
}

export function foldBatchNorms(g: OnnxGraph): OnnxGraph {
  const consumers = new Map<string, number>();
  for (const n of g.nodes) for (const i of n.inputs) if (i) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const graphOutputs = new Set(g.outputs.map((o) => o.name));
  const producer = new Map<string, number>();
  g.nodes.forEach((n, k) => n.outputs.forEach((o) => o && producer.set(o, k)));
  const init = new Map(g.initializers);
  const nodes: Array<OnnxNode | null> = [...g.nodes];
  let folded = 0;
  g.nodes.forEach((bn, k) => {
    if (!foldable(bn, init)) return;
    const x = bn.inputs[0];
    const ci = producer.get(x);
    const conv = ci === undefined ? null : nodes[ci];
    if (!conv || conv.opType !== 'Conv' || (conv.domain !== '' && conv.domain !== 'ai.onnx')) return;
    if (consumers.get(x) !== 1 || graphOutputs.has(x)) return;
    const w = init.get(conv.inputs[1]);
    const b = conv.inputs[2] ? init.get(conv.inputs[2]) : undefined;
    if (!w || w.dtype !== 'float32' || w.shape.length !== 4 || (conv.inputs[2] && (!b || b.dtype !== 'float32'))) return;
    const M = w.shape[0];
    const [gamma, beta, mean, variance] = bn.inputs.slice(1).map((i) => init.get(i)!);
    if ([gamma, beta, mean, variance].some((t) => t.data.length !== M) || (b && b.data.length !== M)) return;
    const eps = attrNumber(bn, 'epsilon', 1e-5);
    const per = w.data.length / M;
    const wd = new Float32Array(w.data.length);
    const bd = new Float32Array(M);
    for (let o = 0; o < M; o++) {
      const s = gamma.data[o] / Math.sqrt(variance.data[o] + eps);
      for (let j = 0; j < per; j++) wd[o * per + j] = w.data[o * per + j] * s;
      bd[o] = ((b ? b.data[o] : 0) - mean.data[o]) * s + beta.data[o];
    }
    const tag = `${conv.name}|bnfold${folded++}`;
    init.set(`${tag}/W`, { dtype: 'float32', shape: w.shape, data: wd });
    init.set(`${tag}/B`, { dtype: 'float32', shape: [M], data: bd });
    nodes[ci!] = { ...conv, inputs: [conv.inputs[0], `${tag}/W`, `${tag}/B`], outputs: [bn.outputs[0]] };
    nodes[k] = null;
  });
  if (folded === 0) return g;
  return { ...g, nodes: nodes.filter((n): n is OnnxNode => n !== null), initializers: init };
}
