/**
 * BatchMatMul with a transposed weight on wasm. The stock wasm kernel is ~13× slower when asked to
 * transpose b (measured: [32,200]·[1024,200]ᵀ 5.8 ms, against 0.45 ms for the same product with b
 * transposed beforehand), and that is exactly what every dense layer's input gradient asks for
 * (dx = dy·Wᵀ). When b is a model weight, its transpose is made once (derived-cache.ts) and the
 * stock kernel runs untransposed; the products are the same float32 sums in the same order
 * (checked bit-for-bit in test/engine-overrides.test.ts). Other cases go to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { derivedFromWeight, isWeight } from './derived-cache.ts';
import { registerKernelOverride, runOpsInKernel } from './kernel-override.ts';

function batchMatMulKernel(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: tf.KernelBackend }): tf.TensorInfo | null {
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  const b = args.inputs.b!;
  const rank = b.shape.length;
  if (!transposeB || transposeA || b.dtype !== 'float32' || (rank !== 2 && !(rank === 3 && b.shape[0] === 1))) return null;
  if (!isWeight(b)) return null;
  return runOpsInKernel(args, ['a', 'b'], ([a, bw]) => {
    const bt = derivedFromWeight(bw, 'T', () => tf.transpose(bw, rank === 2 ? [1, 0] : [0, 2, 1]));
    return tf.matMul(a, bt);
  });
}

export function installMatMulOverride(): void {
  registerKernelOverride('BatchMatMul', batchMatMulKernel);
}
