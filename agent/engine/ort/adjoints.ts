/**
 * Adjoint rules: for one forward node, the ONNX nodes that turn the gradients of its outputs into
 * the gradients of its inputs (vector-Jacobian products), written with inference ops only, so that
 * ONNX Runtime's stock CPU (MLAS) and CUDA kernels run them. Every rule writes opset-17 nodes.
 *
 * Static facts a rule needs (spatial sizes for ConvTranspose, broadcast axes, element counts) come
 * from a shape probe: the forward graph run once at load with every differentiable intermediate
 * exposed (grad-graph.ts). Facts that depend on the batch size are never baked in: reshapes back to
 * an input's shape read `Shape(input)` at run time.
 *
 * A rule returns one gradient name per node input (null: no gradient flows there) and calls
 * `c.fail(detail)` for anything it does not handle, which becomes an UnsupportedOpError naming
 * the op, the node and the detail — at load time, never a wrong gradient.
 */
import { attrFloat, attrInt, attrInts, attrString, DT, floatTensor, type GraphWriter, type HostTensor, type NodeProto } from './onnx.ts';

export interface AdjointCtx {
  w: GraphWriter;
  /** the forward node as it goes into the emitted graph (a rule may expose more of its outputs) */
  node: NodeProto;
  /** gradient of each output (null: nothing downstream depends on it) */
  gOut: Array<string | null>;
  /** whether the input needs a gradient (it depends on the classifier's input and reaches the logits) */
  needs(name: string): boolean;
  /** probed static shape (batch 2) of a differentiable tensor */
  shape(name: string): number[];
  /** the value of an initializer (or folded Constant), if the tensor is one */
  konst(name: string): HostTensor | undefined;
  /** a fresh tensor name for an extra output of a forward node */
  fresh(hint: string): string;
  fail(detail: string): never;
  options: AdjointOptions;
}

export interface AdjointOptions {
  /**
   * Adjoint of a stride-1, ungrouped convolution: 'transpose' (ConvTranspose with the forward
   * weights) or 'flipped' (a Conv with the spatially flipped, in/out-swapped weights, precomputed
   * once; ONNX Runtime's Conv has faster kernels than its ConvTranspose). Strided and grouped
   * convolutions always use ConvTranspose.
   */
  conv: 'transpose' | 'flipped';
  /**
   * 'flipped' only where the forward convolution reads at least this many channels: ONNX Runtime's
   * blocked (NCHWc) Conv pads its output channels to a block of 8 or 16, so a flipped Conv that
   * writes the 1 or 3 channels of an image input wastes most of its work (ConvTranspose does not).
   */
  minFlippedChannels?: number;
}

/** The default choices, measured (bench/engine.ts, scratch variants of SmallCNN b100 and ResNet-18 b32). */
export const DEFAULT_ADJOINTS: AdjointOptions = { conv: 'flipped', minFlippedChannels: 8 };

export type AdjointRule = (c: AdjointCtx) => Array<string | null>;

const prod = (a: number[]) => a.reduce((x, y) => x * y, 1);
const norm = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);
const INT64_MAX = 2 ** 53; // "to the end" for Slice ends (ONNX clamps)

// ---- small emitters ----------------------------------------------------------------------------

function reduceSum(c: AdjointCtx, x: string, axes: number[], keepdims: 0 | 1): string {
  return c.w.op1('ReduceSum', [x, c.w.constI64(axes)], { keepdims });
}

function shapeOf(c: AdjointCtx, x: string): string {
  return c.w.op1('Shape', [x]);
}

function zeroF(c: AdjointCtx): string {
  return c.w.scalarF(0);
}

/** Sum a gradient of broadcast shape `outShape` back to the shape of input `inName`. */
function sumTo(c: AdjointCtx, g: string, outShape: number[], inName: string): string {
  const inShape = c.shape(inName);
  const lead = outShape.length - inShape.length;
  const axes: number[] = [];
  for (let i = 0; i < outShape.length; i++) {
    if (i < lead || (inShape[i - lead] === 1 && outShape[i] !== 1)) axes.push(i);
  }
  if (axes.length === 0) return g;
  if (axes.includes(0) && lead === 0) c.fail(`broadcast over the batch axis of '${inName}'`);
  const s = reduceSum(c, g, axes, 1);
  return lead === 0 ? s : c.w.op1('Reshape', [s, shapeOf(c, inName)]);
}

function intsOf(c: AdjointCtx, name: string | undefined, what: string): number[] | undefined {
  if (!name) return undefined;
  const k = c.konst(name);
  if (!k) c.fail(`${what} is computed at run time; only constant ${what} are supported`);
  return Array.from(k.data as ArrayLike<number>);
}

function scalarOf(c: AdjointCtx, name: string | undefined, what: string): number | undefined {
  if (!name) return undefined;
  const k = c.konst(name);
  if (!k || k.data.length !== 1) c.fail(`${what} must be a constant scalar`);
  return Number(k.data[0]);
}

/** Resolved 2-D window geometry of a Conv / pooling node. */
interface Window {
  k: number[];
  s: number[];
  d: number[];
  pb: number[];
  pe: number[];
  inSize: number[];
  outSize: number[];
}

function windowOf(c: AdjointCtx, x: string, y: string, kernel: number[]): Window {
  const n = c.node;
  const xs = c.shape(x);
  const ys = c.shape(y);
  if (xs.length !== 4) c.fail(`rank-${xs.length} input (2-D windows only)`);
  const inSize = xs.slice(2);
  const outSize = ys.slice(2);
  const s = attrInts(n, 'strides') ?? [1, 1];
  const d = attrInts(n, 'dilations') ?? [1, 1];
  const autoPad = attrString(n, 'auto_pad', 'NOTSET');
  let pb: number[];
  let pe: number[];
  if (autoPad === 'NOTSET') {
    const pads = attrInts(n, 'pads') ?? [0, 0, 0, 0];
    pb = pads.slice(0, 2);
    pe = pads.slice(2);
  } else if (autoPad === 'VALID') {
    pb = [0, 0];
    pe = [0, 0];
  } else {
    const total = [0, 1].map((i) => Math.max(0, (outSize[i] - 1) * s[i] + (kernel[i] - 1) * d[i] + 1 - inSize[i]));
    pb = total.map((t) => (autoPad === 'SAME_UPPER' ? Math.floor(t / 2) : Math.ceil(t / 2)));
    pe = total.map((t, i) => t - pb[i]);
  }
  return { k: kernel, s, d, pb, pe, inSize, outSize };
}

/**
 * The transposed window operation for a gradient: ConvTranspose with the forward's strides,
 * dilations, begin pads and group, cropped or zero-extended at the end to the input's exact size.
 * The rows a ConvTranspose (before cropping) covers are exactly the input rows some window read;
 * rows past them (a floor-mode remainder) get zero gradient, rows inside the end padding are cropped.
 */
function transposedWindow(c: AdjointCtx, g: string, weight: string, win: Window, group: number): string {
  const covered = [0, 1].map((i) => win.s[i] * (win.outSize[i] - 1) + (win.k[i] - 1) * win.d[i] + 1 - win.pb[i]);
  const cropEnd = covered.map((e, i) => Math.max(0, e - win.inSize[i]));
  const extend = covered.map((e, i) => Math.max(0, win.inSize[i] - e));
  let out = c.w.op1('ConvTranspose', [g, weight], {
    kernel_shape: win.k,
    strides: win.s,
    dilations: win.d,
    group,
    pads: [...win.pb, ...cropEnd],
  });
  if (extend.some((e) => e > 0)) out = c.w.op1('Pad', [out, c.w.constI64([0, 0, 0, 0, 0, 0, ...extend])], { mode: 'constant' });
  return out;
}

// ---- rules -------------------------------------------------------------------------------------

const identity: AdjointRule = (c: AdjointCtx) => [c.gOut[0]];

const reshapeBack: AdjointRule = (c: AdjointCtx) => {
  const x = c.node.input![0];
  return [c.w.op1('Reshape', [c.gOut[0]!, shapeOf(c, x)])];
};

function onlyFirstOutput(c: AdjointCtx): string {
  if (c.gOut.slice(1).some((g) => g)) c.fail('a gradient through a secondary output');
  return c.gOut[0]!;
}

const conv: AdjointRule = (c: AdjointCtx) => {
  const n = c.node;
  const [x, w, b] = n.input!;
  if (c.needs(w) || (b && c.needs(b))) c.fail('weights that depend on the input');
  const wk = c.konst(w);
  const kernel = attrInts(n, 'kernel_shape') ?? wk?.dims.slice(2);
  if (!kernel || kernel.length !== 2) c.fail('only 2-D convolutions are supported');
  const group = attrInt(n, 'group', 1);
  const win = windowOf(c, x, n.output![0], kernel);
  const g = c.gOut[0]!;
  const stride1 = win.s.every((s) => s === 1);
  if (c.options.conv === 'flipped' && stride1 && group === 1 && wk && wk.dims[1] >= (c.options.minFlippedChannels ?? 0)) {
    // dX = Conv(gY, W'), W'[i, o] = W[o, i] rotated by 180°, padded so that the output is X-sized
    const covered = [0, 1].map((i) => win.outSize[i] + (win.k[i] - 1) * win.d[i] - win.pb[i]);
    const pe = covered.map((e, i) => e - win.inSize[i]);
    const pads = [0, 1].map((i) => (win.k[i] - 1) * win.d[i] - win.pb[i]);
    const pads2 = [0, 1].map((i) => (win.k[i] - 1) * win.d[i] - pe[i]);
    if ([...pads, ...pads2].every((p) => p >= 0)) {
      const [O, I, kh, kw] = wk.dims;
      const src = wk.data as Float32Array;
      const flipped = new Float32Array(src.length);
      for (let o = 0; o < O; o++)
        for (let i = 0; i < I; i++)
          for (let a = 0; a < kh; a++)
            for (let bb = 0; bb < kw; bb++) flipped[((i * O + o) * kh + (kh - 1 - a)) * kw + (kw - 1 - bb)] = src[((o * I + i) * kh + a) * kw + bb];
      const wName = c.w.constF(flipped, [I, O, kh, kw]);
      return [c.w.op1('Conv', [g, wName], { kernel_shape: kernel, dilations: win.d, pads: [...pads, ...pads2], strides: [1, 1] }), null, null];
    }
  }
  return [transposedWindow(c, g, w, win, group), null, null];
};

/**
 * ConvTranspose: its adjoint is the Conv with the same weights ([C, M/g, kh, kw] is a Conv weight
 * with C outputs and M inputs), strides, dilations, group and begin pads; the end pads shrink by
 * output_padding (rows the forward appended that no input row reached are simply not read).
 */
const convTranspose: AdjointRule = (c: AdjointCtx) => {
  const n = c.node;
  const [x, w, b] = n.input!;
  if (c.needs(w) || (b && c.needs(b))) c.fail('weights that depend on the input');
  if (attrString(n, 'auto_pad', 'NOTSET') !== 'NOTSET') c.fail('auto_pad');
  if (attrInts(n, 'output_shape')) c.fail('output_shape');
  const xs = c.shape(x);
  if (xs.length !== 4) c.fail(`rank-${xs.length} input (2-D only)`);
  const wk = c.konst(w);
  const kernel = attrInts(n, 'kernel_shape') ?? wk?.dims.slice(2);
  if (!kernel || kernel.length !== 2) c.fail('only 2-D transposed convolutions are supported');
  const s = attrInts(n, 'strides') ?? [1, 1];
  const d = attrInts(n, 'dilations') ?? [1, 1];
  const pads = attrInts(n, 'pads') ?? [0, 0, 0, 0];
  const op = attrInts(n, 'output_padding') ?? [0, 0];
  const group = attrInt(n, 'group', 1);
  const pe = [0, 1].map((i) => Math.max(pads[2 + i] - op[i], 0));
  let g = c.w.op1('Conv', [c.gOut[0]!, w], { kernel_shape: kernel, strides: s, dilations: d, group, pads: [pads[0], pads[1], ...pe] });
  // output_padding beyond the end pads: conv windows past the last input row, cropped away
  const ys = c.shape(n.output![0]);
  const convOut = [0, 1].map((i) => Math.floor((ys[2 + i] + pads[i] + pe[i] - ((kernel[i] - 1) * d[i] + 1)) / s[i]) + 1);
  if (convOut.some((o, i) => o !== xs[2 + i])) {
    if (convOut.some((o, i) => o < xs[2 + i])) c.fail('an output smaller than its input implies');
    g = c.w.op1('Slice', [g, c.w.constI64([0, 0]), c.w.constI64([xs[2], xs[3]]), c.w.constI64([2, 3])]);
  }
  return [g, null, null];
};

const gemm: AdjointRule = (c: AdjointCtx) => {
  const n = c.node;
  const [a, b, cc] = n.input!;
  const alpha = attrFloat(n, 'alpha', 1);
  const beta = attrFloat(n, 'beta', 1);
  const tA = attrInt(n, 'transA', 0);
  const tB = attrInt(n, 'transB', 0);
  const g = c.gOut[0]!;
  let dA: string | null = null;
  let dB: string | null = null;
  let dC: string | null = null;
  if (c.needs(a)) {
    dA = tA === 0 ? c.w.op1('Gemm', [g, b], { alpha: { float: alpha }, transB: 1 - tB }) : c.w.op1('Gemm', [b, g], { alpha: { float: alpha }, transA: tB, transB: 1 });
  }
  if (c.needs(b)) {
    dB = tB === 0 ? c.w.op1('Gemm', [a, g], { alpha: { float: alpha }, transA: 1 - tA }) : c.w.op1('Gemm', [g, a], { alpha: { float: alpha }, transA: 1, transB: tA });
  }
  if (cc && c.needs(cc)) {
    const s = sumTo(c, g, c.shape(n.output![0]), cc);
    dC = beta === 1 ? s : c.w.op1('Mul', [s, c.w.scalarF(beta)]);
  }
  return [dA, dB, dC];
};

function swapLast(c: AdjointCtx, x: string, rank: number): string {
  const k = c.konst(x);
  if (k && k.dims.length === 2) {
    const [r, cols] = k.dims;
    const src = k.data as Float32Array;
    const t = new Float32Array(src.length);
    for (let i = 0; i < r; i++) for (let j = 0; j < cols; j++) t[j * r + i] = src[i * cols + j];
    return c.w.constF(t, [cols, r]);
  }
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return c.w.op1('Transpose', [x], { perm });
}

const matmul: AdjointRule = (c: AdjointCtx) => {
  const [a, b] = c.node.input!;
  const g = c.gOut[0]!;
  const ys = c.shape(c.node.output![0]);
  const rankOf = (x: string) => (c.needs(x) ? c.shape(x).length : (c.konst(x)?.dims.length ?? 0));
  if (rankOf(a) < 2 || rankOf(b) < 2) c.fail('1-D MatMul operands');
  const batch = ys.slice(0, -2);
  let dA: string | null = null;
  let dB: string | null = null;
  if (c.needs(a)) {
    const as = c.shape(a);
    dA = sumTo(c, c.w.op1('MatMul', [g, swapLast(c, b, rankOf(b))]), [...batch, ...as.slice(-2)], a);
  }
  if (c.needs(b)) {
    const bs = c.shape(b);
    dB = sumTo(c, c.w.op1('MatMul', [swapLast(c, a, rankOf(a)), g]), [...batch, ...bs.slice(-2)], b);
  }
  return [dA, dB];
};

function binary(kind: 'Add' | 'Sub' | 'Mul' | 'Div'): AdjointRule {
  return (c: AdjointCtx) => {
    const [a, b] = c.node.input!;
    const y = c.node.output![0];
    const g = c.gOut[0]!;
    const ys = c.shape(y);
    let dA: string | null = null;
    let dB: string | null = null;
    if (c.needs(a)) {
      const ga = kind === 'Add' || kind === 'Sub' ? g : c.w.op1(kind, [g, b]);
      dA = sumTo(c, ga, ys, a);
    }
    if (c.needs(b)) {
      let gb: string;
      if (kind === 'Add') gb = g;
      else if (kind === 'Sub') gb = c.w.op1('Neg', [g]);
      else if (kind === 'Mul') gb = c.w.op1('Mul', [g, a]);
      else gb = c.w.op1('Neg', [c.w.op1('Div', [c.w.op1('Mul', [g, y]), b])]); // d(a/b)/db = −y/b
      dB = sumTo(c, gb, ys, b);
    }
    return [dA, dB];
  };
}

const sum: AdjointRule = (c: AdjointCtx) => {
  const ys = c.shape(c.node.output![0]);
  return c.node.input!.map((i) => (c.needs(i) ? sumTo(c, c.gOut[0]!, ys, i) : null));
};

/** Relu: g·(y > 0), as a multiply by the cast mask (measured faster in ONNX Runtime than a Where). */
const relu: AdjointRule = (c: AdjointCtx) => {
  const y = c.node.output![0];
  return [c.w.op1('Mul', [c.gOut[0]!, c.w.op1('Cast', [c.w.op1('Greater', [y, zeroF(c)])], { to: DT.FLOAT })])];
};

const leakyRelu: AdjointRule = (c: AdjointCtx) => {
  const x = c.node.input![0];
  const g = c.gOut[0]!;
  const alpha = attrFloat(c.node, 'alpha', 0.01);
  return [c.w.op1('Where', [c.w.op1('Greater', [x, zeroF(c)]), g, c.w.op1('Mul', [g, c.w.scalarF(alpha)])])];
};

const prelu: AdjointRule = (c: AdjointCtx) => {
  const [x, slope] = c.node.input!;
  if (c.needs(slope)) c.fail('a slope that depends on the input');
  const g = c.gOut[0]!;
  return [c.w.op1('Where', [c.w.op1('Greater', [x, zeroF(c)]), g, c.w.op1('Mul', [g, slope])]), null];
};

const elu: AdjointRule = (c: AdjointCtx) => {
  const x = c.node.input![0];
  const y = c.node.output![0];
  const g = c.gOut[0]!;
  const alpha = attrFloat(c.node, 'alpha', 1);
  return [c.w.op1('Where', [c.w.op1('Greater', [x, zeroF(c)]), g, c.w.op1('Mul', [g, c.w.op1('Add', [y, c.w.scalarF(alpha)])])])];
};

const sigmoid: AdjointRule = (c: AdjointCtx) => {
  const y = c.node.output![0];
  return [c.w.op1('Mul', [c.gOut[0]!, c.w.op1('Mul', [y, c.w.op1('Sub', [c.w.scalarF(1), y])])])];
};

const tanh: AdjointRule = (c: AdjointCtx) => {
  const y = c.node.output![0];
  return [c.w.op1('Mul', [c.gOut[0]!, c.w.op1('Sub', [c.w.scalarF(1), c.w.op1('Mul', [y, y])])])];
};

const softplus: AdjointRule = (c: AdjointCtx) => [c.w.op1('Mul', [c.gOut[0]!, c.w.op1('Sigmoid', [c.node.input![0]])])];

const hardSigmoid: AdjointRule = (c: AdjointCtx) => {
  const x = c.node.input![0];
  const alpha = attrFloat(c.node, 'alpha', 0.2);
  const beta = attrFloat(c.node, 'beta', 0.5);
  const z = c.w.op1('Add', [c.w.op1('Mul', [x, c.w.scalarF(alpha)]), c.w.scalarF(beta)]);
  const inside = c.w.op1('And', [c.w.op1('Greater', [z, zeroF(c)]), c.w.op1('Less', [z, c.w.scalarF(1)])]);
  return [c.w.op1('Where', [inside, c.w.op1('Mul', [c.gOut[0]!, c.w.scalarF(alpha)]), zeroF(c)])];
};

/** PyTorch's hardswish backward: 0 below −3, g·(x/3 + 1/2) up to 3 (inclusive), g above. */
const hardSwish: AdjointRule = (c: AdjointCtx) => {
  const x = c.node.input![0];
  const g = c.gOut[0]!;
  const mid = c.w.op1('Mul', [g, c.w.op1('Add', [c.w.op1('Mul', [x, c.w.scalarF(1 / 3)]), c.w.scalarF(0.5)])]);
  const upper = c.w.op1('Where', [c.w.op1('LessOrEqual', [x, c.w.scalarF(3)]), mid, g]);
  return [c.w.op1('Where', [c.w.op1('Less', [x, c.w.scalarF(-3)]), zeroF(c), upper])];
};

const erf: AdjointRule = (c: AdjointCtx) => {
  const x = c.node.input![0];
  const e = c.w.op1('Exp', [c.w.op1('Neg', [c.w.op1('Mul', [x, x])])]);
  return [c.w.op1('Mul', [c.gOut[0]!, c.w.op1('Mul', [e, c.w.scalarF(2 / Math.sqrt(Math.PI))])])];
};

const gelu: AdjointRule = (c: AdjointCtx) => {
  const x = c.node.input![0];
  const g = c.gOut[0]!;
  const w = c.w;
  if (attrString(c.node, 'approximate', 'none') === 'tanh') {
    const k = Math.sqrt(2 / Math.PI);
    const x2 = w.op1('Mul', [x, x]);
    const inner = w.op1('Mul', [w.op1('Mul', [x, w.op1('Add', [w.scalarF(1), w.op1('Mul', [x2, w.scalarF(0.044715)])])]), w.scalarF(k)]);
    const t = w.op1('Tanh', [inner]);
    const dInner = w.op1('Mul', [w.op1('Add', [w.scalarF(1), w.op1('Mul', [x2, w.scalarF(3 * 0.044715)])]), w.scalarF(k)]);
    const left = w.op1('Mul', [w.op1('Add', [w.scalarF(1), t]), w.scalarF(0.5)]);
    const right = w.op1('Mul', [w.op1('Mul', [x, w.scalarF(0.5)]), w.op1('Mul', [w.op1('Sub', [w.scalarF(1), w.op1('Mul', [t, t])]), dInner])]);
    return [w.op1('Mul', [g, w.op1('Add', [left, right])])];
  }
  // d/dx x·Φ(x) = Φ(x) + x·φ(x)
  const cdf = w.op1('Mul', [w.op1('Add', [w.scalarF(1), w.op1('Erf', [w.op1('Mul', [x, w.scalarF(Math.SQRT1_2)])])]), w.scalarF(0.5)]);
  const pdf = w.op1('Mul', [w.op1('Exp', [w.op1('Mul', [w.op1('Mul', [x, x]), w.scalarF(-0.5)])]), w.scalarF(1 / Math.sqrt(2 * Math.PI))]);
  return [w.op1('Mul', [g, w.op1('Add', [cdf, w.op1('Mul', [x, pdf])])])];
};

const exp: AdjointRule = (c: AdjointCtx) => [c.w.op1('Mul', [c.gOut[0]!, c.node.output![0]])];
const log: AdjointRule = (c: AdjointCtx) => [c.w.op1('Div', [c.gOut[0]!, c.node.input![0]])];
const sqrt: AdjointRule = (c: AdjointCtx) => [c.w.op1('Mul', [c.gOut[0]!, c.w.op1('Div', [c.w.scalarF(0.5), c.node.output![0]])])];
const neg: AdjointRule = (c: AdjointCtx) => [c.w.op1('Neg', [c.gOut[0]!])];
const abs: AdjointRule = (c: AdjointCtx) => [c.w.op1('Mul', [c.gOut[0]!, c.w.op1('Sign', [c.node.input![0]])])];
const reciprocal: AdjointRule = (c: AdjointCtx) => {
  const y = c.node.output![0];
  return [c.w.op1('Neg', [c.w.op1('Mul', [c.gOut[0]!, c.w.op1('Mul', [y, y])])])];
};

const pow: AdjointRule = (c: AdjointCtx) => {
  const [x, p] = c.node.input!;
  if (c.needs(p)) c.fail('an exponent that depends on the input');
  const k = c.konst(p);
  if (!k) c.fail('the exponent must be a constant');
  const g = c.gOut[0]!;
  if (k.data.length === 1 && Number(k.data[0]) === 2) return [c.w.op1('Mul', [g, c.w.op1('Mul', [x, c.w.scalarF(2)])]), null];
  const pf = Float32Array.from(k.data as ArrayLike<number>, Number);
  const pm1 = c.w.constF(pf.map((v) => v - 1), k.dims);
  return [c.w.op1('Mul', [g, c.w.op1('Mul', [c.w.op1('Pow', [x, pm1]), c.w.constF(pf, k.dims)])]), null];
};

/** PyTorch's clamp backward: the gradient passes where min ≤ x ≤ max. */
const clip: AdjointRule = (c: AdjointCtx) => {
  const [x, lo, hi] = c.node.input!;
  if ((lo && c.needs(lo)) || (hi && c.needs(hi))) c.fail('bounds that depend on the input');
  let mask: string | null = null;
  if (lo) mask = c.w.op1('GreaterOrEqual', [x, lo]);
  if (hi) {
    const m = c.w.op1('LessOrEqual', [x, hi]);
    mask = mask ? c.w.op1('And', [mask, m]) : m;
  }
  const g = c.gOut[0]!;
  return [mask ? c.w.op1('Where', [mask, g, zeroF(c)]) : g, null, null];
};

const softmax: AdjointRule = (c: AdjointCtx) => {
  const y = c.node.output![0];
  const g = c.gOut[0]!;
  const axis = norm(attrInt(c.node, 'axis', -1), c.shape(y).length);
  const dot = reduceSum(c, c.w.op1('Mul', [g, y]), [axis], 1);
  return [c.w.op1('Mul', [y, c.w.op1('Sub', [g, dot])])];
};

const logSoftmax: AdjointRule = (c: AdjointCtx) => {
  const y = c.node.output![0];
  const g = c.gOut[0]!;
  const axis = norm(attrInt(c.node, 'axis', -1), c.shape(y).length);
  const s = reduceSum(c, g, [axis], 1);
  return [c.w.op1('Sub', [g, c.w.op1('Mul', [c.w.op1('Exp', [y]), s])])];
};

const batchNorm: AdjointRule = (c: AdjointCtx) => {
  const n = c.node;
  const [x, scale, , , variance] = n.input!;
  if (attrInt(n, 'training_mode', 0) !== 0) c.fail('training_mode=1');
  if ((n.output ?? []).slice(1).some(Boolean)) c.fail('running-statistics outputs');
  if (n.input!.slice(1).some((i) => c.needs(i))) c.fail('parameters that depend on the input');
  const eps = attrFloat(n, 'epsilon', 1e-5);
  const rank = c.shape(x).length;
  const ks = c.konst(scale);
  const kv = c.konst(variance);
  const bshape = [c.shape(x)[1], ...new Array<number>(rank - 2).fill(1)];
  let s: string;
  if (ks && kv) {
    // per-channel scale γ/√(σ²+ε), folded once; ONNX Runtime computes its forward the same way
    const gamma = ks.data as Float32Array;
    const v = kv.data as Float32Array;
    s = c.w.constF(Float32Array.from(gamma, (gm, i) => gm / Math.sqrt(v[i] + eps)), bshape);
  } else {
    const r = c.w.op1('Div', [scale, c.w.op1('Sqrt', [c.w.op1('Add', [variance, c.w.scalarF(eps)])])]);
    s = c.w.op1('Reshape', [r, c.w.constI64(bshape)]);
  }
  return [c.w.op1('Mul', [onlyFirstOutput(c), s]), null, null, null, null];
};

const layerNorm: AdjointRule = (c: AdjointCtx) => {
  const n = c.node;
  const [x, scale, bias] = n.input!;
  if (c.needs(scale) || (bias && c.needs(bias))) c.fail('scale or bias that depend on the input');
  const g = onlyFirstOutput(c);
  const xs = c.shape(x);
  const axis = norm(attrInt(n, 'axis', -1), xs.length);
  if (axis === 0) c.fail('normalisation over the batch axis');
  const axes = Array.from({ length: xs.length - axis }, (_, i) => axis + i);
  const count = prod(axes.map((a) => xs[a]));
  // expose the node's saved statistics instead of recomputing them
  while (n.output!.length < 3) n.output!.push('');
  if (!n.output![1]) n.output![1] = c.fresh('ln_mean');
  if (!n.output![2]) n.output![2] = c.fresh('ln_invstd');
  const [, mean, invStd] = n.output!;
  const w = c.w;
  const xhat = w.op1('Mul', [w.op1('Sub', [x, mean]), invStd]);
  const gs = w.op1('Mul', [g, scale]);
  const m1 = w.op1('Mul', [reduceSum(c, gs, axes, 1), w.scalarF(1 / count)]);
  const m2 = w.op1('Mul', [reduceSum(c, w.op1('Mul', [gs, xhat]), axes, 1), w.scalarF(1 / count)]);
  return [w.op1('Mul', [invStd, w.op1('Sub', [w.op1('Sub', [gs, m1]), w.op1('Mul', [xhat, m2])])]), null, null];
};

const transpose: AdjointRule = (c: AdjointCtx) => {
  const rank = c.shape(c.node.input![0]).length;
  const perm = attrInts(c.node, 'perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  const inv = new Array<number>(rank);
  perm.forEach((p, i) => (inv[p] = i));
  return [c.w.op1('Transpose', [c.gOut[0]!], { perm: inv })];
};

const concat: AdjointRule = (c: AdjointCtx) => {
  const ins = c.node.input!;
  const rank = c.shape(c.node.output![0]).length;
  const axis = norm(attrInt(c.node, 'axis', 0), rank);
  if (axis === 0) c.fail('concatenation along the batch axis');
  const sizes = ins.map((i) => (c.needs(i) ? c.shape(i)[axis] : (c.konst(i)?.dims[axis] ?? c.fail(`the size of '${i}' along axis ${axis} is unknown`))));
  const parts = c.w.op('Split', [c.gOut[0]!, c.w.constI64(sizes)], { axis }, ins.length);
  return ins.map((i, k) => (c.needs(i) ? parts[k] : null));
};

const split: AdjointRule = (c: AdjointCtx) => {
  const n = c.node;
  const x = n.input![0];
  const rank = c.shape(x).length;
  const axis = norm(attrInt(n, 'axis', 0), rank);
  if (axis === 0) c.fail('split along the batch axis');
  const parts = n.output!.map((o, k) => c.gOut[k] ?? c.w.op1('ConstantOfShape', [shapeOf(c, o)], { value: floatTensor('', [1], [0]) }));
  return [c.w.op1('Concat', parts, { axis }), null];
};

/**
 * Slice: zero-fill the gradient back to the input's extent, one axis at a time (a multi-axis slice
 * is a composition of one-axis slices). Steps > 1 interleave step−1 zeros after each element
 * (unsqueeze, pad, merge); negative steps reverse the gradient first.
 */
const slice: AdjointRule = (c: AdjointCtx) => {
  const [x, st, en, ax, sp] = c.node.input!;
  const xs = c.shape(x);
  const starts = intsOf(c, st, 'starts')!;
  const ends = intsOf(c, en, 'ends')!;
  const axes = (intsOf(c, ax, 'axes') ?? starts.map((_, i) => i)).map((a) => norm(a, xs.length));
  const steps = intsOf(c, sp, 'steps') ?? starts.map(() => 1);
  const w = c.w;
  let g = c.gOut[0]!;
  const gs = [...c.shape(c.node.output![0])];
  axes.forEach((a, i) => {
    const dim = xs[a];
    const step = steps[i];
    if (step === 0) c.fail('step 0');
    if (a === 0) c.fail('slicing the batch axis');
    // the selected positions, as ONNX defines them (clamping differs for negative steps)
    let first: number;
    let count: number;
    if (step > 0) {
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
      const s0 = clamp(starts[i]);
      const e0 = clamp(ends[i]);
      count = e0 > s0 ? Math.ceil((e0 - s0) / step) : 0;
      first = s0;
    } else {
      const s0 = Math.min(Math.max(starts[i] < 0 ? starts[i] + dim : starts[i], -1), dim - 1);
      const e0 = Math.min(Math.max(ends[i] < 0 ? ends[i] + dim : ends[i], -1), dim - 1);
      count = s0 > e0 ? Math.ceil((s0 - e0) / -step) : 0;
      first = s0 + (count - 1) * step; // the lowest selected position
      if (count > 1) g = w.op1('Slice', [g, w.constI64([-1]), w.constI64([-INT64_MAX]), w.constI64([a]), w.constI64([-1])]);
    }
    if (count === 0) c.fail('an empty slice');
    const stride = Math.abs(step);
    let span = count;
    if (stride > 1) {
      // [.., count, ..] → [.., count, stride, ..] (zeros after each element) → [.., count·stride, ..]
      const u = w.op1('Unsqueeze', [g, w.constI64([a + 1])]);
      const padU = new Array<number>(2 * (gs.length + 1)).fill(0);
      padU[gs.length + 1 + a + 1] = stride - 1;
      const p = w.op1('Pad', [u, w.constI64(padU)], { mode: 'constant' });
      span = count * stride;
      g = w.op1('Reshape', [p, w.constI64([...new Array<number>(a).fill(0), span, ...gs.slice(a + 1)])]);
    }
    const before = first;
    const after = dim - (first + span);
    if (after < 0) {
      g = w.op1('Slice', [g, w.constI64([0]), w.constI64([span + after]), w.constI64([a])]);
    }
    if (before > 0 || after > 0) {
      const pads = new Array<number>(2 * gs.length).fill(0);
      pads[a] = before;
      pads[gs.length + a] = Math.max(after, 0);
      g = w.op1('Pad', [g, w.constI64(pads)], { mode: 'constant' });
    }
    gs[a] = dim;
  });
  return [g, null, null, null, null];
};

/**
 * Pad. Constant: crop what was added (and zero-fill what negative pads cropped). Reflect and edge:
 * one axis at a time, fold each padded border back onto the positions it copied (reflect:
 * x[pb − p] for border position p, mirrored at the far end; edge: all onto the first/last position).
 */
const pad: AdjointRule = (c: AdjointCtx) => {
  const [x, p, , ax] = c.node.input!;
  const mode = attrString(c.node, 'mode', 'constant');
  if (mode !== 'constant' && mode !== 'reflect' && mode !== 'edge') c.fail(`mode '${mode}'`);
  const xs = c.shape(x);
  const rank = xs.length;
  const given = intsOf(c, p, 'pads')!;
  const axes = (intsOf(c, ax, 'axes') ?? Array.from({ length: rank }, (_, i) => i)).map((a) => norm(a, rank));
  const pb = new Array<number>(rank).fill(0);
  const pe = new Array<number>(rank).fill(0);
  axes.forEach((a, i) => {
    pb[a] = given[i];
    pe[a] = given[axes.length + i];
  });
  if (pb[0] !== 0 || pe[0] !== 0) c.fail('padding the batch axis');
  const w = c.w;
  let g = c.gOut[0]!;
  if (mode === 'constant') {
    // positive pads were added: crop them; negative pads cropped: pad them back with zeros
    if ([...pb, ...pe].some((v) => v > 0)) {
      const starts = pb.map((v) => Math.max(v, 0));
      const ends = pe.map((v) => (v > 0 ? -v : INT64_MAX));
      g = w.op1('Slice', [g, w.constI64(starts), w.constI64(ends)]);
    }
    if ([...pb, ...pe].some((v) => v < 0)) {
      g = w.op1('Pad', [g, w.constI64([...pb.map((v) => Math.max(-v, 0)), ...pe.map((v) => Math.max(-v, 0))])], { mode: 'constant' });
    }
    return [g, null, null, null];
  }
  if ([...pb, ...pe].some((v) => v < 0)) c.fail(`negative pads in ${mode} mode`);
  const sl = (t: string, a: number, from: number, to: number) => w.op1('Slice', [t, w.constI64([from]), w.constI64([to]), w.constI64([a])]);
  const rev = (t: string, a: number) => w.op1('Slice', [t, w.constI64([-1]), w.constI64([-INT64_MAX]), w.constI64([a]), w.constI64([-1])]);
  const placeAt = (t: string, a: number, before: number, after: number) => {
    const pads = new Array<number>(2 * rank).fill(0);
    pads[a] = before;
    pads[rank + a] = after;
    return w.op1('Pad', [t, w.constI64(pads)], { mode: 'constant' });
  };
  for (let a = 1; a < rank; a++) {
    if (pb[a] === 0 && pe[a] === 0) continue;
    const dim = xs[a];
    const parts = [sl(g, a, pb[a], pb[a] + dim)];
    if (mode === 'reflect') {
      if (pb[a] >= dim || pe[a] >= dim) c.fail('reflect pads as large as the axis');
      // border position p < pb copied x[pb − p]: reversed, the left border lands on x[1 … pb]
      if (pb[a] > 0) parts.push(placeAt(rev(sl(g, a, 0, pb[a]), a), a, 1, dim - 1 - pb[a]));
      // border position q copied x[dim − 2 − q]: reversed, the right border lands on x[dim−1−pe … dim−2]
      if (pe[a] > 0) parts.push(placeAt(rev(sl(g, a, pb[a] + dim, pb[a] + dim + pe[a]), a), a, dim - 1 - pe[a], 1));
    } else {
      if (pb[a] > 0) parts.push(placeAt(reduceSum(c, sl(g, a, 0, pb[a]), [a], 1), a, 0, dim - 1));
      if (pe[a] > 0) parts.push(placeAt(reduceSum(c, sl(g, a, pb[a] + dim, pb[a] + dim + pe[a]), [a], 1), a, dim - 1, 0));
    }
    g = parts.length === 1 ? parts[0] : w.op1('Sum', parts);
  }
  return [g, null, null, null];
};

const globalAveragePool: AdjointRule = (c: AdjointCtx) => {
  const x = c.node.input![0];
  const xs = c.shape(x);
  const g = c.w.op1('Mul', [c.gOut[0]!, c.w.scalarF(1 / prod(xs.slice(2)))]);
  return [c.w.op1('Expand', [g, shapeOf(c, x)])];
};

const averagePool: AdjointRule = (c: AdjointCtx) => {
  const n = c.node;
  const x = n.input![0];
  const kernel = attrInts(n, 'kernel_shape')!;
  const win = windowOf(c, x, n.output![0], kernel);
  const padded = [...win.pb, ...win.pe].some((p) => p > 0);
  const floorOut = [0, 1].map((i) => Math.floor((win.inSize[i] + win.pb[i] + win.pe[i] - ((kernel[i] - 1) * win.d[i] + 1)) / win.s[i]) + 1);
  if (floorOut.some((o, i) => o !== win.outSize[i])) c.fail('ceil_mode windows past the padded input');
  const C = c.shape(x)[1];
  const g = c.gOut[0]!;
  const w = c.w;
  const dil1 = win.d.every((d) => d === 1);
  // a window covering the whole input: the global average's adjoint
  if (!padded && dil1 && win.outSize.every((o) => o === 1) && kernel.every((k, i) => k === win.inSize[i])) {
    return [w.op1('Expand', [w.op1('Mul', [g, w.scalarF(1 / prod(kernel))]), shapeOf(c, x)])];
  }
  // windows that tile the input exactly: repeat each gradient over its window
  if (!padded && dil1 && kernel.every((k, i) => k === win.s[i] && win.outSize[i] * k === win.inSize[i])) {
    const [oh, ow] = win.outSize;
    const [kh, kw] = kernel;
    const g6 = w.op1('Reshape', [w.op1('Mul', [g, w.scalarF(1 / (kh * kw))]), w.constI64([0, C, oh, 1, ow, 1])]);
    const big = w.op1('Expand', [g6, w.constI64([1, 1, 1, kh, 1, kw])]);
    return [w.op1('Reshape', [big, shapeOf(c, x)])];
  }
  // general: divide by each window's element count, then spread with a depthwise ConvTranspose
  const includePad = attrInt(n, 'count_include_pad', 0) === 1;
  let scaled: string;
  if (!padded || includePad) {
    scaled = w.op1('Mul', [g, w.scalarF(1 / prod(kernel))]);
  } else {
    const [oh, ow] = win.outSize;
    const counts = new Float32Array(oh * ow);
    const span = (o: number, i: number) => {
      const start = o * win.s[i] - win.pb[i];
      let cnt = 0;
      for (let t = 0; t < kernel[i]; t++) {
        const p = start + t * win.d[i];
        if (p >= 0 && p < win.inSize[i]) cnt++;
      }
      return cnt;
    };
    for (let a = 0; a < oh; a++) for (let b = 0; b < ow; b++) counts[a * ow + b] = 1 / (span(a, 0) * span(b, 1));
    scaled = w.op1('Mul', [g, w.constF(counts, [1, 1, oh, ow])]);
  }
  const ones = w.constF(new Float32Array(C * prod(kernel)).fill(1), [C, 1, ...kernel]);
  return [transposedWindow(c, scaled, ones, win, C)];
};

/**
 * MaxPool: ONNX Runtime's MaxPool can return the flat index of each window's maximum (over the
 * whole N·C·H·W tensor); the adjoint scatters the gradient to those indices, adding where windows
 * overlap and share a maximum (ScatterElements, reduction 'add').
 */
const maxPool: AdjointRule = (c: AdjointCtx) => {
  const n = c.node;
  const x = n.input![0];
  if (attrInt(n, 'storage_order', 0) !== 0) c.fail('storage_order=1');
  const g = onlyFirstOutput(c);
  if (!n.output![1]) {
    while (n.output!.length < 2) n.output!.push('');
    n.output![1] = c.fresh('maxpool_idx');
  }
  const w = c.w;
  const kernel = attrInts(n, 'kernel_shape')!;
  const strides = attrInts(n, 'strides') ?? kernel.map(() => 1);
  const dil = attrInts(n, 'dilations') ?? kernel.map(() => 1);
  if (kernel.every((k, i) => strides[i] >= (k - 1) * dil[i] + 1)) {
    // windows that do not overlap select distinct indices: MaxUnpool places each gradient at its
    // index (one pass, no zero-filled buffer to scatter into)
    return [w.op1('MaxUnpool', [g, n.output![1], shapeOf(c, x)], { kernel_shape: kernel, strides })];
  }
  const flatShape = w.op1('Reshape', [w.op1('Size', [x]), w.constI64([1])]);
  const zeros = w.op1('ConstantOfShape', [flatShape], { value: floatTensor('', [1], [0]) });
  const idx = w.op1('Reshape', [n.output![1], w.constI64([-1])]);
  const upd = w.op1('Reshape', [g, w.constI64([-1])]);
  const scattered = w.op1('ScatterElements', [zeros, idx, upd], { axis: 0, reduction: 'add' });
  return [w.op1('Reshape', [scattered, shapeOf(c, x)])];
};

function reduce(kind: 'ReduceMean' | 'ReduceSum'): AdjointRule {
  return (c: AdjointCtx) => {
    const n = c.node;
    const x = n.input![0];
    const xs = c.shape(x);
    const axesIn = n.input![1];
    let axes = axesIn ? intsOf(c, axesIn, 'axes') : attrInts(n, 'axes');
    if (!axes || axes.length === 0) {
      if (attrInt(n, 'noop_with_empty_axes', 0) === 1) return [c.gOut[0], null];
      axes = xs.map((_, i) => i);
    }
    axes = axes.map((a) => norm(a, xs.length)).sort((a, b) => a - b);
    if (axes.includes(0)) c.fail('reduction over the batch axis');
    let g = c.gOut[0]!;
    if (attrInt(n, 'keepdims', 1) === 0) g = c.w.op1('Unsqueeze', [g, c.w.constI64(axes)]);
    if (kind === 'ReduceMean') g = c.w.op1('Mul', [g, c.w.scalarF(1 / prod(axes.map((a) => xs[a])))]);
    return [c.w.op1('Expand', [g, shapeOf(c, x)]), null];
  };
}

const gather: AdjointRule = (c: AdjointCtx) => {
  const n = c.node;
  const [x, ind] = n.input!;
  const xs = c.shape(x);
  const axis = norm(attrInt(n, 'axis', 0), xs.length);
  if (axis === 0) c.fail('gathering along the batch axis');
  const k = c.konst(ind);
  if (!k) c.fail('indices computed at run time');
  if (k.dims.length > 1) c.fail('indices of rank > 1');
  const idx = Array.from(k.data as ArrayLike<number>, (v) => (Number(v) < 0 ? Number(v) + xs[axis] : Number(v)));
  const w = c.w;
  let g = c.gOut[0]!;
  if (k.dims.length === 0) g = w.op1('Unsqueeze', [g, w.constI64([axis])]);
  const ishape = xs.map((_, i) => (i === axis ? idx.length : 1));
  const idxFull = w.op1('Expand', [w.constI64(idx, ishape), shapeOf(c, g)]);
  const zeros = w.op1('ConstantOfShape', [shapeOf(c, x)], { value: floatTensor('', [1], [0]) });
  return [w.op1('ScatterElements', [zeros, idxFull, g], { axis, reduction: 'add' }), null];
};

const expand: AdjointRule = (c: AdjointCtx) => [sumTo(c, c.gOut[0]!, c.shape(c.node.output![0]), c.node.input![0]), null];

const where: AdjointRule = (c: AdjointCtx) => {
  const [cond, a, b] = c.node.input!;
  const ys = c.shape(c.node.output![0]);
  const g = c.gOut[0]!;
  return [
    null,
    c.needs(a) ? sumTo(c, c.w.op1('Where', [cond, g, zeroF(c)]), ys, a) : null,
    c.needs(b) ? sumTo(c, c.w.op1('Where', [cond, zeroF(c), g]), ys, b) : null,
  ];
};

const cast: AdjointRule = (c: AdjointCtx) => {
  if (attrInt(c.node, 'to', DT.FLOAT) !== DT.FLOAT) c.fail('a cast to a non-float type on the gradient path');
  return [c.gOut[0]];
};

const dropout: AdjointRule = (c: AdjointCtx) => {
  if (c.node.input![2] && !c.konst(c.node.input![2])) c.fail('training_mode computed at run time');
  const tm = c.node.input![2] ? Number(c.konst(c.node.input![2])!.data[0]) : 0;
  if (tm !== 0) c.fail('training_mode=1');
  return [onlyFirstOutput(c), null, null];
};

/** Op type → adjoint. What is not here is an UnsupportedOpError when it lies on the gradient path. */
export const ADJOINTS: Record<string, AdjointRule> = {
  Conv: conv,
  ConvTranspose: convTranspose,
  Gemm: gemm,
  MatMul: matmul,
  Add: binary('Add'),
  Sub: binary('Sub'),
  Mul: binary('Mul'),
  Div: binary('Div'),
  Sum: sum,
  Relu: relu,
  LeakyRelu: leakyRelu,
  PRelu: prelu,
  Elu: elu,
  Sigmoid: sigmoid,
  Tanh: tanh,
  Softplus: softplus,
  HardSigmoid: hardSigmoid,
  HardSwish: hardSwish,
  Erf: erf,
  Gelu: gelu,
  Exp: exp,
  Log: log,
  Sqrt: sqrt,
  Neg: neg,
  Abs: abs,
  Reciprocal: reciprocal,
  Pow: pow,
  Clip: clip,
  Softmax: softmax,
  LogSoftmax: logSoftmax,
  BatchNormalization: batchNorm,
  LayerNormalization: layerNorm,
  Identity: identity,
  Dropout: dropout,
  Cast: cast,
  Reshape: reshapeBack,
  Flatten: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Transpose: transpose,
  Concat: concat,
  Split: split,
  Slice: slice,
  Pad: pad,
  GlobalAveragePool: globalAveragePool,
  AveragePool: averagePool,
  MaxPool: maxPool,
  ReduceMean: reduce('ReduceMean'),
  ReduceSum: reduce('ReduceSum'),
  Gather: gather,
  Expand: expand,
  Where: where,
};

/**
 * Ops whose outputs never carry a gradient (shape arithmetic, comparisons, arg-max, integer casts):
 * the builder treats their outputs as constants of the input, as autograd does.
 */
export const NON_DIFFERENTIABLE = new Set([
  'Shape', 'Size', 'ConstantOfShape', 'ArgMax', 'ArgMin', 'Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual',
  'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf', 'NonZero', 'Range', 'EyeLike', 'OneHot', 'RandomNormalLike', 'RandomUniformLike',
]);

/** Outputs of differentiable ops that are integer indices (never a gradient). */
export function isIndexOutput(opType: string, k: number): boolean {
  return (opType === 'MaxPool' && k === 1) || (opType === 'TopK' && k === 1);
}

