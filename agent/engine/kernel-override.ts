/**
 * Plumbing shared by the wasm engine overrides (conv-grad.ts, batchnorm-grad.ts, maxpool-grad.ts,
 * matmul.ts, identity.ts): one switch for all of them, registration that keeps the stock kernel as the
 * fallback, and a way to implement a kernel with tfjs ops.
 *
 * The switch exists for side-by-side measurements and tests (stock vs overrides in one process);
 * agents never turn it off. Overrides act only while the wasm backend is active: on every other
 * backend the stock kernels and gradients run unchanged.
 */
import * as tf from '@tensorflow/tfjs';

let enabled = false;

/** Whether the overrides act now (switched on and the wasm backend active). */
export function overridesEnabled(): boolean {
  return enabled && tf.getBackend() === 'wasm';
}

export function setOverridesEnabled(on: boolean): void {
  enabled = on;
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: tf.KernelBackend };
/** An override returns null to hand the call to the stock kernel (a case it does not cover). */
export type OverrideKernel = (args: KernelArgs) => tf.TensorInfo | null;

const stockKernels = new Map<string, tf.KernelFunc | null>();

/** Replace the wasm kernel `name` by `fn`; the stock kernel (if any) runs when fn returns null or the switch is off. */
export function registerKernelOverride(name: string, fn: OverrideKernel): void {
  if (stockKernels.has(name)) return;
  const stock = tf.getKernel(name, 'wasm');
  stockKernels.set(name, stock?.kernelFunc ?? null);
  if (stock) tf.unregisterKernel(name, 'wasm');
  const kernelFunc = (args: KernelArgs) => {
    const stockFn = stockKernels.get(name);
    const out = enabled || !stockFn ? fn(args) : null;
    if (out) return out;
    if (!stockFn) throw new Error(`${name} on wasm: case not supported`);
    return stockFn(args as never) as tf.TensorInfo;
  };
  tf.registerKernel({ kernelName: name, backendName: 'wasm', setupFunc: stock?.setupFunc, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
}

/** Register a gradient in place of tfjs's (which the override keeps and calls when it does not act). */
export function registerGradientOverride(config: tf.GradConfig): void {
  const prevWarn = console.warn;
  console.warn = () => {}; // tfjs warns "Overriding the gradient for '…'": intended here
  try {
    tf.registerGradient(config);
  } finally {
    console.warn = prevWarn;
  }
}

/**
 * Implement a kernel with tfjs ops: the named inputs are wrapped as tensors (each takes a reference
 * on its buffer, released when the wrapper is disposed), `fn` runs nested (the tape is off inside a
 * kernel), and the result's buffer is handed to the engine as the kernel's output.
 */
export function runOpsInKernel(args: KernelArgs, names: string[], fn: (inputs: tf.Tensor[]) => tf.Tensor): tf.TensorInfo {
  const engine = tf.engine();
  const wrapped = names.map((n) => {
    const info = args.inputs[n];
    if (!info) throw new Error(`kernel input '${n}' is missing`);
    args.backend.incRef(info.dataId);
    return engine.makeTensorFromTensorInfo(info, args.backend);
  });
  const out = tf.tidy(() => fn(wrapped));
  args.backend.incRef(out.dataId);
  const info = { dataId: out.dataId, shape: out.shape, dtype: out.dtype };
  tf.dispose([...wrapped, out]);
  return info;
}
