/**
 * Zero-copy Identity on wasm. In gradient mode tfjs saves every kernel input by cloning it
 * (Identity); the stock wasm Identity copies the buffer under a new id, which also defeats the
 * XNNPACK packed-weight cache (keyed by buffer id), so every forward inside tf.grad re-packs the
 * weights. Sharing the buffer (one more reference), as the cpu backend does, avoids both. Kernels
 * never write into their inputs, so sharing is safe. String tensors keep the stock path.
 */
import * as tf from '@tensorflow/tfjs';
import { registerKernelOverride } from './kernel-override.ts';

export function installIdentityOverride(): void {
  registerKernelOverride('Identity', ({ inputs, backend }) => {
    const x = inputs.x!;
    if (x.dtype === 'string') return null;
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype } as tf.TensorInfo;
  });
}
