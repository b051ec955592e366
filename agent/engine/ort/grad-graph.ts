/**
 * The gradient-graph builder: from a classifier's ONNX graph, one ONNX graph that computes the
 * logits and the vector-Jacobian product with respect to the input, made only of inference ops.
 *
 *   forward:   x (NHWC)                         → logits
 *   cotangent: x (NHWC), cotangent [N, K]       → logits, ∂⟨cotangent, logits⟩/∂x (NHWC)
 *   head:      x (NHWC), labels [N], scale []   → logits, ∂(scale·Σ_i h(logits_i, y_i))/∂x (NHWC)
 *
 * The head form computes the loss's cotangent inside the graph from the logits (σ-zero's and FMN's
 * margin, PGD's cross-entropy), so an attack step is one run. The graph takes NHWC input (the
 * attacks' layout) and transposes to the model's NCHW itself, and returns the gradient in NHWC.
 *
 * Load-time work (`loadGradientGraphs`): read and check the graph (classifier-graph.ts); find the
 * differentiable tensors (those that depend on the input through differentiable ops) and, of those,
 * the ones that reach the logits; run the forward once (batch 2) with them exposed to learn their
 * static shapes; upgrade old-opset nodes; then build (JS only, no ONNX Runtime) the cotangent graph,
 * which walks every node on the gradient path, so an unsupported op fails here, naming itself.
 */
import { ADJOINTS, DEFAULT_ADJOINTS, isIndexOutput, NON_DIFFERENTIABLE, type AdjointCtx, type AdjointOptions } from './adjoints.ts';
import { readClassifierGraph, upgradeNodes, type ClassifierGraph } from './classifier-graph.ts';
import { attrInt, DT, encodeModel, GraphWriter, valueInfo, type NodeProto } from './onnx.ts';
import { OrtGraphError, UnsupportedOpError } from './errors.ts';
import { floatTensor as ortFloat, OrtSession } from './session.ts';

export type HeadKind = 'margin' | 'margin-clamped' | 'ce';
export type GradMode = { kind: 'forward' } | { kind: 'cotangent' } | { kind: 'head'; head: HeadKind };

/** Names of the built graphs' inputs and outputs. */
export const IO = {
  x: 'sigma_x',
  labels: 'sigma_labels',
  scale: 'sigma_scale',
  cotangent: 'sigma_cotangent',
  logits: 'sigma_logits',
  grad: 'sigma_grad',
} as const;

export interface GradientGraphs {
  /** [H, W, C] of one sample (NHWC, what the engine feeds) */
  sampleShape: [number, number, number];
  numClasses: number;
  /** op types of the nodes on the gradient path, for reports */
  gradientOps: string[];
  /** the serialised graph for a mode */
  build(mode: GradMode): Uint8Array;
}

const PROBE_BATCH = 2;

interface Analysis {
  cg: ClassifierGraph;
  /** differentiable tensors that reach the logits */
  needed: Set<string>;
  shapes: Map<string, number[]>;
  numClasses: number;
}

/** Which tensors carry a gradient from the input to the logits. */
function gradientPath(cg: ClassifierGraph): Set<string> {
  const active = new Set([cg.input]);
  for (const n of cg.nodes) {
    if (NON_DIFFERENTIABLE.has(n.opType!)) continue;
    if (n.opType === 'Cast' && attrInt(n, 'to', DT.FLOAT) !== DT.FLOAT) continue;
    if (!(n.input ?? []).some((i) => active.has(i))) continue;
    (n.output ?? []).forEach((o, k) => {
      if (o && !isIndexOutput(n.opType!, k)) active.add(o);
    });
  }
  const needed = new Set<string>();
  if (active.has(cg.output)) needed.add(cg.output);
  for (let k = cg.nodes.length - 1; k >= 0; k--) {
    const n = cg.nodes[k];
    if (!(n.output ?? []).some((o) => needed.has(o))) continue;
    for (const i of n.input ?? []) if (active.has(i)) needed.add(i);
  }
  return needed;
}

function nchwDims(cg: ClassifierGraph): number[] {
  const [h, w, c] = cg.sampleShape;
  return cg.layout === 'NCHW' ? [c, h, w] : [h, w, c];
}

/**
 * Run the forward at batch 2 and 3 with every tensor on the gradient path exposed, and the
 * computed (not initializer) parameters of the nodes on it (Slice bounds, Pad pads, Gather
 * indices … that exporters build from Shape arithmetic). Shapes come from the batch-2 run;
 * parameters whose values agree at both batch sizes are recorded as constants of the graph.
 */
function probeShapes(cg: ClassifierGraph, needed: Set<string>): { shapes: Map<string, number[]>; numClasses: number } {
  const known = new Set([cg.input, ...cg.initializers.map((t) => t.name!)]);
  const params = new Set<string>();
  for (const n of cg.nodes) {
    if (!(n.output ?? []).some((o) => needed.has(o))) continue;
    for (const i of n.input ?? []) if (i && !needed.has(i) && !known.has(i)) params.add(i);
  }
  const exposed = [...new Set([...needed, ...params])].filter((t) => t !== cg.input && t !== cg.output);
  const model = {
    irVersion: cg.irVersion,
    opsetImport: [{ domain: '', version: cg.opset }],
    producerName: 'sigma-sweep shape probe',
    graph: {
      name: 'probe',
      node: cg.nodes,
      initializer: cg.initializers,
      input: [valueInfo(cg.input, DT.FLOAT, [null, ...nchwDims(cg)])],
      // outputs without a declared type: ONNX Runtime infers it (parameters may be int64)
      output: [valueInfo(cg.output, DT.FLOAT), ...exposed.map((t) => ({ name: t }))],
    },
  };
  let session: OrtSession;
  try {
    session = new OrtSession(encodeModel(model), { threads: 1, provider: 'cpu' });
  } catch (e) {
    throw new OrtGraphError(`ONNX Runtime cannot load the graph: ${(e as Error).message}`);
  }
  const runAt = (batch: number) => {
    const dims = [batch, ...nchwDims(cg)];
    const x = new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(0.5);
    try {
      return session.run({ [cg.input]: ortFloat(x, dims) }, [cg.output, ...exposed]);
    } catch (e) {
      throw new OrtGraphError(`the forward pass fails at batch ${batch} (is the batch size fixed in the graph?): ${(e as Error).message}`);
    }
  };
  let out: ReturnType<typeof runAt>;
  let out3: ReturnType<typeof runAt>;
  try {
    out = runAt(PROBE_BATCH);
    out3 = runAt(PROBE_BATCH + 1);
  } finally {
    session.dispose();
  }
  const shapes = new Map<string, number[]>([[cg.input, [PROBE_BATCH, ...nchwDims(cg)]]]);
  for (const t of [cg.output, ...needed]) if (out[t]) shapes.set(t, [...out[t].dims]);
  for (const t of params) {
    const a = out[t];
    const b = out3[t];
    if (!a || !b || a.data.length > 4096 || a.data.length !== b.data.length || a.dims.join() !== b.dims.join()) continue;
    const va = Array.from(a.data as ArrayLike<number | bigint>, Number);
    const vb = Array.from(b.data as ArrayLike<number | bigint>, Number);
    if (va.some((v, i) => !Object.is(v, vb[i]))) continue; // depends on the batch size: not a constant
    const dataType = a.type === 'float32' ? DT.FLOAT : a.type === 'int64' ? DT.INT64 : a.type === 'int32' ? DT.INT32 : a.type === 'bool' ? DT.BOOL : DT.UNDEFINED;
    cg.consts.set(t, { dims: [...a.dims], dataType, data: dataType === DT.FLOAT ? Float32Array.from(va) : va });
  }
  const logits = shapes.get(cg.output)!;
  if (logits.length !== 2 || logits[0] !== PROBE_BATCH) throw new OrtGraphError(`the output must be [batch, classes]; at batch ${PROBE_BATCH} it is [${logits.join(', ')}]`);
  if (cg.numClasses !== null && cg.numClasses !== logits[1]) throw new OrtGraphError(`the output declares ${cg.numClasses} classes but has ${logits[1]}`);
  return { shapes, numClasses: logits[1] };
}

/** Read, check and probe a classifier graph; the returned object builds its gradient graphs. */
export function loadGradientGraphs(bytes: Uint8Array, options: AdjointOptions = DEFAULT_ADJOINTS): GradientGraphs {
  const cg = readClassifierGraph(bytes);
  const needed = gradientPath(cg);
  if (!needed.has(cg.input)) throw new OrtGraphError(`the logits do not depend on the input through differentiable ops`);
  const { shapes, numClasses } = probeShapes(cg, needed);
  upgradeNodes(cg, cg.modelOpset, shapes);
  const a: Analysis = { cg, needed: gradientPath(cg), shapes, numClasses };
  const gradientOps = [...new Set(cg.nodes.filter((n) => (n.output ?? []).some((o) => a.needed.has(o))).map((n) => n.opType!))].sort();
  build(a, { kind: 'cotangent' }, options); // every adjoint on the path, once: unsupported ops fail at load
  return {
    sampleShape: cg.sampleShape,
    numClasses,
    gradientOps,
    build: (mode) => build(a, mode, options),
  };
}

/** The in-graph loss heads: the cotangent of scale·Σ_i h(logits_i, y_i) with respect to the logits. */
function emitHead(w: GraphWriter, logits: string, k: number, head: HeadKind): string {
  const depth = w.constI64([k]);
  const onOff = w.constF([0, 1]);
  const isY = w.op1('OneHot', [IO.labels, depth, onOff], { axis: -1 });
  let cot: string;
  if (head === 'ce') {
    // d(−log softmax_y)/d logits = softmax − onehot(y)
    cot = w.op1('Sub', [w.op1('Softmax', [logits], { axis: 1 }), isY]);
  } else {
    // d(f_y − max_{j≠y} f_j)/d logits = onehot(y) − onehot(first arg-max of the others)
    const masked = w.op1('Where', [w.op1('Cast', [isY], { to: DT.BOOL }), w.scalarF(-Infinity), logits]);
    const j = w.op1('ArgMax', [masked], { axis: 1, keepdims: 0 });
    cot = w.op1('Sub', [isY, w.op1('OneHot', [j, depth, onOff], { axis: -1 })]);
    if (head === 'margin-clamped') {
      // max(0, margin): no gradient where the margin is ≤ 0 (as relu's gradient at 0)
      const margin = w.op1('ReduceSum', [w.op1('Mul', [logits, cot]), w.constI64([1])], { keepdims: 1 });
      cot = w.op1('Where', [w.op1('Greater', [margin, w.scalarF(0)]), cot, w.scalarF(0)]);
    }
  }
  return w.op1('Mul', [cot, IO.scale]);
}

function build(a: Analysis, mode: GradMode, options: AdjointOptions): Uint8Array {
  const { cg } = a;
  const w = new GraphWriter('__sigma_');
  const nodes: NodeProto[] = cg.nodes.map((n) => ({ ...n, input: [...(n.input ?? [])], output: [...(n.output ?? [])] }));
  const pre: NodeProto[] = [];
  const [h, wd, c] = cg.sampleShape;
  // the engine feeds NHWC in [0, 1]; the model reads its own layout and value range
  const [lo, hi] = cg.inputRange;
  const ranged = lo !== 0 || hi !== 1;
  const laid = ranged ? '__sigma_x_laid' : cg.input;
  if (cg.layout === 'NCHW') pre.push({ name: '__sigma_to_nchw', opType: 'Transpose', input: [IO.x], output: [laid], attribute: [{ name: 'perm', type: 7, ints: [0, 3, 1, 2] }] });
  else pre.push({ name: '__sigma_in', opType: 'Identity', input: [IO.x], output: [laid] });
  if (ranged) {
    pre.push({ name: '__sigma_range_mul', opType: 'Mul', input: [laid, w.scalarF(hi - lo)], output: ['__sigma_x_scaled'] });
    pre.push({ name: '__sigma_range_add', opType: 'Add', input: ['__sigma_x_scaled', w.scalarF(lo)], output: [cg.input] });
  }
  const post: NodeProto[] = [{ name: '__sigma_logits', opType: 'Identity', input: [cg.output], output: [IO.logits] }];
  const inputs = [valueInfo(IO.x, DT.FLOAT, [null, h, wd, c])];
  const outputs = [valueInfo(IO.logits, DT.FLOAT, [null, a.numClasses])];

  if (mode.kind !== 'forward') {
    let seed: string;
    if (mode.kind === 'cotangent') {
      inputs.push(valueInfo(IO.cotangent, DT.FLOAT, [null, a.numClasses]));
      seed = IO.cotangent;
    } else {
      inputs.push(valueInfo(IO.labels, DT.INT64, [null]), valueInfo(IO.scale, DT.FLOAT, []));
      seed = emitHead(w, cg.output, a.numClasses, mode.head);
    }
    let gInput = backward(a, nodes, w, seed, options);
    if (ranged) gInput = w.op1('Mul', [gInput, w.scalarF(hi - lo)]);
    const perm = cg.layout === 'NCHW' ? [0, 2, 3, 1] : [0, 1, 2, 3];
    w.op('Transpose', [gInput], { perm }, [IO.grad]);
    outputs.push(valueInfo(IO.grad, DT.FLOAT, [null, h, wd, c]));
  }
  return encodeModel({
    irVersion: cg.irVersion,
    opsetImport: [{ domain: '', version: cg.opset }],
    producerName: 'sigma-sweep gradient-graph builder',
    graph: {
      name: `sigma_${mode.kind}${mode.kind === 'head' ? `_${mode.head}` : ''}`,
      node: [...pre, ...nodes, ...w.nodes, ...post],
      initializer: [...cg.initializers, ...w.initializers],
      input: inputs,
      output: outputs,
    },
  });
}

/** Reverse sweep over the forward nodes; returns the gradient of the model input (NCHW). */
function backward(a: Analysis, nodes: NodeProto[], w: GraphWriter, seed: string, options: AdjointOptions): string {
  const { cg, needed, shapes } = a;
  const contributions = new Map<string, string[]>([[cg.output, [seed]]]);
  const gradOf = (t: string): string | null => {
    const parts = contributions.get(t);
    if (!parts) return null;
    if (parts.length > 1) contributions.set(t, [w.op1('Sum', parts)]);
    return contributions.get(t)![0];
  };
  for (let k = nodes.length - 1; k >= 0; k--) {
    const node = nodes[k];
    const outs = node.output ?? [];
    if (!outs.some((o) => needed.has(o) && contributions.has(o))) continue;
    const op = node.opType!;
    const fail = (detail: string): never => {
      throw new UnsupportedOpError(op, node.name!, detail);
    };
    const rule = ADJOINTS[op];
    if (!rule || (node.domain && node.domain !== 'ai.onnx')) throw new UnsupportedOpError(op, node.name!);
    const ctx: AdjointCtx = {
      w,
      node,
      gOut: outs.map((o) => (needed.has(o) ? gradOf(o) : null)),
      needs: (t) => needed.has(t),
      shape: (t) => shapes.get(t) ?? fail(`no static shape for '${t}'`),
      konst: (t) => cg.consts.get(t),
      fresh: (hint) => w.fresh(hint),
      fail,
      options,
    };
    const gIn = rule(ctx);
    (node.input ?? []).forEach((i, j) => {
      const g = gIn[j];
      if (!g || !needed.has(i)) return;
      const list = contributions.get(i);
      if (list) list.push(g);
      else contributions.set(i, [g]);
    });
  }
  const g = gradOf(cg.input);
  if (!g) throw new OrtGraphError('no gradient reaches the input');
  return g;
}
