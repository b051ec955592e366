/**
 * A classifier's ONNX graph, read and normalised for the gradient-graph builder:
 * - one float input of rank 4 (NCHW as PyTorch exports it, or NHWC), batch dimension made symbolic;
 *   one [batch, classes] output;
 * - nodes rewritten to opset ≥ 17 (upgradeNodes, after the shape probe), the opset every emitted
 *   adjoint node is written in (models exported at opset 11…16 differ from 17 only in the ops
 *   converted there: Split, Squeeze, Unsqueeze, ReduceSum take their axes as inputs since 13,
 *   Softmax/LogSoftmax coerce to 2-D before 13, Dropout's ratio became an input in 12);
 * - Constant nodes folded into initializers, so attributes-as-inputs (shapes, axes, pads) are
 *   known at build time;
 * - declared value_info dropped (a fixed batch size there would contradict the symbolic one).
 */
import { attrInt, attrInts, declaredDims, defaultOpset, DT, decodeModel, int64Tensor, num, readTensor, makeAttr, type HostTensor, type ModelProto, type NodeProto, type TensorProto } from './onnx.ts';
import { OrtGraphError, UnsupportedOpError } from './errors.ts';

export const MIN_OPSET = 11;
export const TARGET_OPSET = 17;

export interface ClassifierGraph {
  /** opset the nodes are written in: the model's until upgradeNodes, then ≥ TARGET_OPSET */
  opset: number;
  /** the opset the model was exported with */
  readonly modelOpset: number;
  irVersion: number;
  /** topologically sorted, no Constant nodes */
  nodes: NodeProto[];
  /** every initializer (the model's and the folded constants) */
  initializers: TensorProto[];
  /** decoded values of the initializers, by name */
  consts: Map<string, HostTensor>;
  /** the model's input and output tensor names */
  input: string;
  output: string;
  layout: 'NCHW' | 'NHWC';
  /** [H, W, C] of one sample, as the engine feeds it (NHWC) */
  sampleShape: [number, number, number];
  /** classes, when the output declares them (the shape probe fills it otherwise) */
  numClasses: number | null;
  /**
   * the value range the model expects its input in: the engine feeds lo + x·(hi − lo) for x in
   * [0, 1]. From the model's metadata `sigma_sweep.input_range` ("lo,hi"), as the tfjs importer
   * reads it (models/onnx/load.ts); [0, 1] without it.
   */
  inputRange: [number, number];
}

export const INPUT_RANGE_KEY = 'sigma_sweep.input_range';

function inputRangeOf(model: ModelProto): [number, number] {
  const v = (model.metadataProps ?? []).find((p) => p.key === INPUT_RANGE_KEY)?.value;
  if (v == null) return [0, 1];
  const parts = v.trim().replace(/^\[(.*)\]$/, '$1').split(',').map((t) => Number(t.trim()));
  if (parts.length !== 2 || parts.some((p) => !Number.isFinite(p)) || parts[0] >= parts[1]) {
    throw new OrtGraphError(`metadata ${INPUT_RANGE_KEY} = '${v}' is not "lo,hi" (or "[lo,hi]") with lo < hi`);
  }
  return [parts[0], parts[1]];
}

/**
 * Which layout a rank-4 input has: PyTorch exports NCHW; a graph converted from TensorFlow may be
 * NHWC. Decided from where the (small) channel dimension sits.
 */
export function inputLayout(dims: ReadonlyArray<number | null>): 'NCHW' | 'NHWC' {
  const small = (d: number | null) => d === 1 || d === 3 || d === 4;
  if (small(dims[3]) && !small(dims[1])) return 'NHWC';
  return 'NCHW';
}

export function readClassifierGraph(bytes: Uint8Array): ClassifierGraph {
  let model: ModelProto;
  try {
    model = decodeModel(bytes);
  } catch (e) {
    throw new OrtGraphError(`not an ONNX model (${(e as Error).message})`);
  }
  const g = model.graph;
  if (!g) throw new OrtGraphError('the model has no graph');
  for (const o of model.opsetImport ?? []) {
    if (o.domain && o.domain !== 'ai.onnx') {
      const used = (g.node ?? []).find((n) => n.domain === o.domain);
      if (used) throw new OrtGraphError(`operator domain '${o.domain}' (node '${used.name}', ${used.opType}) is not supported`);
    }
  }
  // onnxruntime-node 1.30 crashes the whole process (a segfault, not an exception) on a
  // LayerNormalization without a bias input, which torch exports for F.layer_norm(x, s, weight=w)
  // (microsoft/onnxruntime#18967): refuse it before any session exists; `auto` then uses tfjs
  const lnNoBias = (g.node ?? []).find((n) => n.opType === 'LayerNormalization' && !(n.input ?? [])[2]);
  if (lnNoBias) throw new UnsupportedOpError('LayerNormalization', lnNoBias.name ?? '', 'no bias input: onnxruntime-node crashes on it (microsoft/onnxruntime#18967); the tfjs engine runs it');
  const modelOpset = defaultOpset(model);
  if (modelOpset < MIN_OPSET) throw new OrtGraphError(`opset ${modelOpset} is too old: export the model with opset ${MIN_OPSET} or later`);

  const initializers: TensorProto[] = [...(g.initializer ?? [])];
  const initNames = new Set(initializers.map((t) => t.name!));
  const inputs = (g.input ?? []).filter((i) => !initNames.has(i.name!));
  if (inputs.length !== 1) throw new OrtGraphError(`a classifier has one input; this graph has ${inputs.length} (${inputs.map((i) => i.name).join(', ')})`);
  if ((g.output ?? []).length !== 1) throw new OrtGraphError(`a classifier has one output (the logits); this graph has ${(g.output ?? []).length}`);
  const input = inputs[0];
  const output = g.output![0];
  if (input.type?.tensorType?.elemType !== DT.FLOAT) throw new OrtGraphError(`input '${input.name}' must be float32`);
  const inDims = declaredDims(input);
  if (!inDims || inDims.length !== 4 || inDims.slice(1).some((d) => d == null)) {
    throw new OrtGraphError(`input '${input.name}' must be a rank-4 image batch with fixed channel and spatial sizes; declared ${JSON.stringify(inDims)}`);
  }
  const outDims = declaredDims(output);
  if (outDims && outDims.length !== 2) throw new OrtGraphError(`output '${output.name}' must be [batch, classes]; declared ${JSON.stringify(outDims)}`);
  const layout = inputLayout(inDims);
  const [a, b, c] = inDims.slice(1) as number[];
  const sampleShape: [number, number, number] = layout === 'NCHW' ? [b, c, a] : [a, b, c];

  const consts = new Map<string, HostTensor>();
  for (const t of initializers) {
    try {
      consts.set(t.name!, readTensor(t));
    } catch {
      // an initializer of a type we never need to read (it still goes to ONNX Runtime as is)
    }
  }
  const nodes: NodeProto[] = [];
  let fresh = 0;
  const freshName = (hint: string) => `__ort_node_${hint}_${fresh++}`;
  for (const n0 of g.node ?? []) {
    const n: NodeProto = { ...n0, name: n0.name || freshName(n0.opType ?? 'node'), attribute: [...(n0.attribute ?? [])], input: [...(n0.input ?? [])], output: [...(n0.output ?? [])] };
    if (n.opType === 'Constant' && (!n.domain || n.domain === 'ai.onnx')) {
      const t = constantValue(n);
      initializers.push(t);
      consts.set(t.name!, readTensor(t));
      continue;
    }
    nodes.push(n);
  }
  checkTopological(nodes, new Set([input.name!, ...initializers.map((t) => t.name!)]));
  return {
    opset: modelOpset,
    modelOpset,
    irVersion: Math.max(num(model.irVersion ?? 8), 8),
    nodes,
    initializers,
    consts,
    input: input.name!,
    output: output.name!,
    layout,
    sampleShape,
    numClasses: outDims?.[1] ?? null,
    inputRange: inputRangeOf(model),
  };
}

function constantValue(n: NodeProto): TensorProto {
  const name = n.output![0];
  const a = n.attribute?.[0];
  if (!a) throw new OrtGraphError(`Constant node '${n.name}' has no value`);
  switch (a.name) {
    case 'value':
      return { ...a.t!, name };
    case 'value_float':
      return { name, dims: [], dataType: DT.FLOAT, floatData: [a.f ?? 0] };
    case 'value_floats':
      return { name, dims: [(a.floats ?? []).length], dataType: DT.FLOAT, floatData: a.floats ?? [] };
    case 'value_int':
      return int64Tensor(name, [], [num(a.i ?? 0)]);
    case 'value_ints':
      return int64Tensor(name, [(a.ints ?? []).length], (a.ints ?? []).map(num));
    default:
      throw new OrtGraphError(`Constant node '${n.name}': ${a.name} values are not supported`);
  }
}

function checkTopological(nodes: NodeProto[], known: Set<string>): void {
  for (const n of nodes) {
    for (const i of n.input ?? []) {
      if (i && !known.has(i)) throw new OrtGraphError(`node '${n.name}' (${n.opType}) reads '${i}' before it is produced (the graph is not topologically sorted)`);
    }
    for (const o of n.output ?? []) if (o) known.add(o);
  }
}

/**
 * Rewrite the nodes of a model exported at opset 11…16 to their opset-17 form, in place. Needs the
 * probed shapes (for the rank of a legacy Softmax input). New intermediate tensors get their shapes
 * recorded in `shapes`.
 */
export function upgradeNodes(cg: ClassifierGraph, modelOpset: number, shapes: Map<string, number[]>): void {
  if (modelOpset >= TARGET_OPSET) return;
  let fresh = 0;
  const freshName = (hint: string) => `__ort_up_${hint}_${fresh++}`;
  const out: NodeProto[] = [];
  for (const n of cg.nodes) {
    const axesToInput = (attrName: string) => {
      const axes = attrInts(n, attrName);
      n.attribute = (n.attribute ?? []).filter((a) => a.name !== attrName);
      if (axes === undefined) return;
      const t = int64Tensor(freshName(`${n.opType}_${attrName}`), [axes.length], axes);
      cg.initializers.push(t);
      cg.consts.set(t.name!, readTensor(t));
      n.input = [n.input![0], t.name!];
    };
    switch (n.opType) {
      case 'Split':
      case 'Squeeze':
      case 'Unsqueeze':
      case 'ReduceSum':
        if (modelOpset < 13) axesToInput(n.opType === 'Split' ? 'split' : 'axes');
        out.push(n);
        break;
      case 'Dropout':
        // inference: the identity on its first output (a mask output is never read by a classifier)
        if ((n.output ?? []).slice(1).some(Boolean)) throw new OrtGraphError(`Dropout node '${n.name}' exposes its mask`);
        out.push({ name: n.name, opType: 'Identity', input: [n.input![0]], output: [n.output![0]] });
        break;
      case 'Softmax':
      case 'LogSoftmax': {
        if (modelOpset >= 13) {
          out.push(n);
          break;
        }
        // before 13 these flatten to 2-D at `axis` (default 1) and normalise over everything after it
        const dims = shapes.get(n.input![0]);
        const rank = dims?.length ?? 2;
        const ax = ((attrInt(n, 'axis', 1) % rank) + rank) % rank;
        if (ax === rank - 1) {
          out.push({ ...n, attribute: [makeAttr('axis', -1)] });
          break;
        }
        if (!dims) throw new OrtGraphError(`${n.opType} node '${n.name}': legacy (opset < 13) axis ${ax} on an input of unknown rank`);
        const flat = freshName('flat');
        const soft = freshName('soft');
        const shape = freshName('shape');
        shapes.set(flat, [dims.slice(0, ax).reduce((a, b) => a * b, 1), dims.slice(ax).reduce((a, b) => a * b, 1)]);
        shapes.set(soft, shapes.get(flat)!);
        out.push({ name: freshName('n'), opType: 'Flatten', input: [n.input![0]], output: [flat], attribute: [makeAttr('axis', ax)] });
        out.push({ name: n.name, opType: n.opType, input: [flat], output: [soft], attribute: [makeAttr('axis', -1)] });
        out.push({ name: freshName('n'), opType: 'Shape', input: [n.input![0]], output: [shape] });
        out.push({ name: freshName('n'), opType: 'Reshape', input: [soft, shape], output: [n.output![0]] });
        break;
      }
      default:
        out.push(n);
    }
  }
  cg.nodes = out;
  cg.opset = TARGET_OPSET;
}
