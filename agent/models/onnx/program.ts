/**
 * The graph, split by what its values depend on, and its interpreter.
 *
 * - constant: initializers and everything computed from constants only. Evaluated once, here, at
 *   load (host tensors).
 * - per-batch: values computed from shapes (Shape, Size and what follows from them, e.g. PyTorch's
 *   `x.view(x.size(0), -1)` → Shape/Gather/Unsqueeze/Concat). They depend only on the input's
 *   shape, i.e. the batch size: evaluated on the first run with a new input shape and memoised.
 * - dynamic: everything that depends on the input's values: the tfjs ops that run (and are
 *   differentiated) on every forward.
 *
 * Every node, dynamic ones included, runs at load: constants here, the rest in the loader's probe
 * forwards. Op implementations transpose weights into their per-node cache on that first run and
 * reject unsupported attributes, ops and dtypes, so all of that happens at load time. An attribute
 * that no code path of the op read is reported too (AttrReader).
 *
 * Intermediate tensors are released after their last consumer (reference-counted: ops may pass a
 * tensor through), which keeps a forward's peak memory near that of a tfjs LayersModel.
 */
import * as tf from '@tensorflow/tfjs';
import { NodeProblem } from './errors.ts';
import type { HostTensor, OnnxGraph, OnnxNode } from './ir.ts';
import { hostToTensor, plain, tensorToHost, type Held } from './layout.ts';
import { OPS, SHAPE_ONLY_OPS } from './ops/index.ts';
import { AttrReader, OpArgs, type Operand, type OpImpl, type OpOutput, type RunInfo } from './ops/op.ts';

type Kind = 'const' | 'meta' | 'dyn';

interface Step {
  readonly node: OnnxNode;
  readonly impl: OpImpl;
  readonly kind: 'meta' | 'dyn';
  readonly attrs: AttrReader;
  readonly cache: Map<string, unknown>;
  checked: boolean;
  /** dynamic values whose last consumer is this step */
  readonly release: string[];
}

function isDefaultDomain(d: string): boolean {
  return d === '' || d === 'ai.onnx';
}

function wrapError(node: OnnxNode, e: unknown): NodeProblem {
  if (e instanceof NodeProblem) return e;
  const msg = (e as Error)?.message ?? String(e);
  return new NodeProblem({ op: node.opType, node: node.name }, `failed: ${msg}`, false);
}

export class OnnxProgram {
  /** constant values (initializers and folded nodes), host side */
  readonly constants = new Map<string, HostTensor>();
  readonly steps: Step[] = [];
  /** how many nodes were folded to constants at load */
  readonly folded: number;
  private readonly memo = new Map<string, Map<string, HostTensor>>();
  private readonly outputNames: string[];

  constructor(
    private readonly graph: OnnxGraph,
    feeds: readonly string[],
  ) {
    this.outputNames = graph.outputs.map((o) => o.name);
    for (const [k, v] of graph.initializers) this.constants.set(k, v);
    const order = this.neededNodes();
    const kinds = new Map<string, Kind>();
    for (const k of this.constants.keys()) kinds.set(k, 'const');
    for (const f of feeds) kinds.set(f, 'dyn');
    let folded = 0;
    for (const node of order) {
      if (!isDefaultDomain(node.domain)) throw new NodeProblem({ op: node.opType, node: node.name }, `op '${node.opType}' of domain '${node.domain}' is not supported`, true);
      const impl = OPS.get(node.opType);
      if (!impl) throw new NodeProblem({ op: node.opType, node: node.name }, `op '${node.opType}' is not supported (opset ${graph.opset})`, true);
      const inKinds = node.inputs.filter((i) => i !== '').map((i) => {
        const k = kinds.get(i);
        if (!k) throw new NodeProblem({ op: node.opType, node: node.name }, `input '${i}' is produced by no node, initializer or graph input`, false);
        return k;
      });
      let kind: Kind = inKinds.includes('dyn') ? 'dyn' : inKinds.includes('meta') ? 'meta' : 'const';
      if (SHAPE_ONLY_OPS.has(node.opType) && kind === 'dyn') kind = 'meta';
      for (const o of node.outputs) if (o) kinds.set(o, kind);
      const step: Step = { node, impl, kind: kind === 'const' ? 'meta' : kind, attrs: new AttrReader(node), cache: new Map(), checked: false, release: [] };
      if (kind === 'const') {
        const outs = this.evaluateHost(step, (name) => this.constants.get(name), { batch: null, fixedBatch: null });
        node.outputs.forEach((o, k) => o && this.constants.set(o, outs[k]));
        folded++;
      } else {
        this.steps.push(step);
      }
    }
    this.folded = folded;
    // release each dynamic value after its last consumer (never the feeds or the graph outputs)
    const last = new Map<string, number>();
    this.steps.forEach((s, k) => {
      if (s.kind !== 'dyn' && !SHAPE_ONLY_OPS.has(s.node.opType)) return;
      for (const i of s.node.inputs) if (i && kinds.get(i) === 'dyn') last.set(i, k);
    });
    const keep = new Set([...feeds, ...this.outputNames]);
    for (const [name, k] of last) if (!keep.has(name)) this.steps[k].release.push(name);
    for (const o of this.outputNames) if (!kinds.has(o)) throw new NodeProblem({ op: 'graph', node: 'output' }, `graph output '${o}' is produced by no node`, false);
  }

  /** The nodes the graph outputs depend on, in a topological order (the file's order need not be). */
  private neededNodes(): OnnxNode[] {
    const producer = new Map<string, OnnxNode>();
    for (const n of this.graph.nodes) for (const o of n.outputs) if (o) producer.set(o, n);
    const state = new Map<OnnxNode, 1 | 2>();
    const order: OnnxNode[] = [];
    const visit = (root: OnnxNode) => {
      // iterative DFS: graphs can be thousands of nodes deep
      const stack: Array<[OnnxNode, number]> = [[root, 0]];
      while (stack.length) {
        const top = stack[stack.length - 1];
        const [n, i] = top;
        if (i === 0) {
          if (state.get(n) === 2) {
            stack.pop();
            continue;
          }
          state.set(n, 1);
        }
        if (i < n.inputs.length) {
          top[1]++;
          const p = n.inputs[i] ? producer.get(n.inputs[i]) : undefined;
          if (p && !this.constants.has(n.inputs[i])) {
            if (state.get(p) === 1) throw new NodeProblem({ op: n.opType, node: n.name }, 'the graph has a cycle', false);
            if (!state.has(p)) stack.push([p, 0]);
          }
        } else {
          state.set(n, 2);
          order.push(n);
          stack.pop();
        }
      }
    };
    for (const o of this.outputNames) {
      const p = producer.get(o);
      if (p) visit(p);
    }
    return order;
  }

  private execute(step: Step, operands: Array<Operand | undefined>, info: RunInfo): OpOutput[] {
    let outs: OpOutput[];
    try {
      outs = step.impl(new OpArgs(step.node, step.attrs, this.graph.opset, operands, step.cache, info));
    } catch (e) {
      throw wrapError(step.node, e);
    }
    if (!step.checked) {
      const unread = step.attrs.unread();
      if (unread.length > 0) throw new NodeProblem(step.attrs.where(unread[0]), 'this attribute is not supported', true);
      step.checked = true;
    }
    const wanted = step.node.outputs.length;
    if (outs.length < wanted) throw new NodeProblem(step.attrs.where(), `produced ${outs.length} outputs, the graph uses ${wanted}`, false);
    return outs;
  }

  /** Run a step whose inputs are host values (or, for Shape, any value); outputs as host tensors. */
  private evaluateHost(step: Step, lookup: (name: string) => HostTensor | undefined, info: RunInfo, env?: Map<string, Held>): HostTensor[] {
    let result: HostTensor[] = [];
    tf.tidy(() => {
      const operands = step.node.inputs.map((name): Operand | undefined => {
        if (!name) return undefined;
        const h = lookup(name);
        if (h) return { kind: 'host', value: h, constant: this.constants.has(name) };
        const d = env?.get(name);
        if (!d) throw new NodeProblem(step.attrs.where(), `input '${name}' is not available`, false);
        return { kind: 'tensor', held: d };
      });
      const outs = this.execute(step, operands, info);
      result = outs.map((o) => ('data' in o ? o : tensorToHost(o)));
    });
    return result;
  }

  /**
   * One forward: feeds by graph input name; returns the graph outputs (owned by the caller; a
   * feed passed straight through is returned as is).
   */
  run(feeds: ReadonlyMap<string, Held>, info: RunInfo): Held[] {
    const key = [...feeds.values()].map((h) => h.t.shape.join('x')).join('|');
    let memo = this.memo.get(key);
    if (!memo) this.memo.set(key, (memo = new Map()));
    const env = new Map<string, Held>();
    const refs = new Map<tf.Tensor, number>();
    const feedTensors = new Set([...feeds.values()].map((h) => h.t));
    const put = (name: string, h: Held) => {
      env.set(name, h);
      refs.set(h.t, (refs.get(h.t) ?? 0) + 1);
    };
    const drop = (name: string) => {
      const h = env.get(name);
      if (!h) return;
      env.delete(name);
      const n = (refs.get(h.t) ?? 1) - 1;
      refs.set(h.t, n);
      if (n === 0 && !feedTensors.has(h.t)) h.t.dispose();
    };
    for (const [name, h] of feeds) put(name, h);
    const host = (name: string) => this.constants.get(name) ?? memo!.get(name);
    try {
      for (const step of this.steps) {
        if (step.kind === 'meta') {
          if (step.node.outputs.every((o) => !o || memo.has(o))) continue;
          const outs = this.evaluateHost(step, host, info, env);
          step.node.outputs.forEach((o, k) => o && memo!.set(o, outs[k]));
        } else {
          const operands = step.node.inputs.map((name): Operand | undefined => {
            if (!name) return undefined;
            const h = host(name);
            if (h) return { kind: 'host', value: h, constant: this.constants.has(name) };
            const d = env.get(name);
            if (!d) throw new NodeProblem(step.attrs.where(), `input '${name}' is not available`, false);
            return { kind: 'tensor', held: d };
          });
          let flags: boolean[] = [];
          const ts = tf.tidy(() => {
            const outs = this.execute(step, operands, info).map((o) => ('data' in o ? plain(hostToTensor(o)) : o));
            flags = outs.map((o) => o.nhwc);
            return outs.map((o) => o.t);
          });
          step.node.outputs.forEach((o, k) => {
            if (o) put(o, { t: ts[k], nhwc: flags[k] });
            else if (!feedTensors.has(ts[k]) && ![...env.values()].some((h) => h.t === ts[k])) ts[k].dispose();
          });
        }
        for (const name of step.release) drop(name);
      }
      return this.outputNames.map((name) => {
        const h = host(name);
        if (h) return plain(hostToTensor(h));
        const d = env.get(name)!;
        env.delete(name); // ownership passes to the caller
        return d;
      });
    } finally {
      for (const name of [...env.keys()]) drop(name);
    }
  }
}
