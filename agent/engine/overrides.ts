/**
 * The wasm engine overrides, installed by selectBackend('wasm'):
 * - conv-grad.ts: Conv2D input and filter gradients through the forward (XNNPACK) convolution;
 * - identity.ts: zero-copy Identity (gradient-mode saves share buffers; packed weights stay cached);
 * - batchnorm-grad.ts: FusedBatchNorm gradient without a full-size Tile, lazy partials;
 * - maxpool-grad.ts: one-pass MaxPoolGrad for non-overlapping windows;
 * - matmul.ts: products with a transposed weight (dense-layer input gradients) on a cached transpose.
 * Plus, on every backend, linear-conv.ts (used by the model loader): in gradient mode, convolutions
 * with linear activation run unfused so that no filter gradient is computed for an input gradient.
 * setWasmOverridesEnabled(false) switches them all back to the stock kernels (for side-by-side
 * benchmarks and the equality tests).
 */
import { installBatchNormOverride } from './batchnorm-grad.ts';
import { installConvOverrides } from './conv-grad.ts';
import { installIdentityOverride } from './identity.ts';
import { setOverridesEnabled } from './kernel-override.ts';
import { installMaxPoolOverride } from './maxpool-grad.ts';
import { installMatMulOverride } from './matmul.ts';

let installed = false;

export function installWasmOverrides(): void {
  setOverridesEnabled(true);
  if (installed) return;
  installIdentityOverride();
  installConvOverrides();
  installBatchNormOverride();
  installMaxPoolOverride();
  installMatMulOverride();
  installed = true;
}

export { setOverridesEnabled as setWasmOverridesEnabled } from './kernel-override.ts';
