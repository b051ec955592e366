/**
 * Which engine computes a task's forwards and input gradients:
 *   tfjs      the model as a tfjs Net on the active tfjs backend (wasm, tensorflow, cpu)
 *   ort       ONNX Runtime on the CPU (MLAS), through derived gradient graphs (grad-graph.ts)
 *   ort-cuda  ONNX Runtime's CUDA 12 execution provider (deploy/ORT-GPU.md)
 *   auto      ort where the model is ONNX (or a zoo model with an ONNX twin) and every op on its
 *             gradient path has an adjoint, unless the tfjs backend is TensorFlow (tfjs-node or
 *             tfjs-node-gpu); tfjs otherwise
 * The attacks' own tensor work (Adam, projections, sparsity) runs on tfjs in every case.
 * The request travels in the environment (request.ts).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ModelLoadError } from '../../models/io.ts';
import { detectModelFormat } from '../../models/formats.ts';
import { ZOO_DIR, zooModel } from '../../models/zoo.ts';
import { OrtModel } from './classifier.ts';
import { EngineUnavailableError, OrtGraphError, UnsupportedOpError } from './errors.ts';
import { availableProviders } from './session.ts';
import { EngineRequestError, ortThreads, type EngineRequest } from './request.ts';

export { engineRequest, ENGINES, type EngineRequest } from './request.ts';

/** What result rows record as their backend when ONNX Runtime ran the model. */
export type OrtEngineName = 'ort-cpu' | 'ort-cuda';

/** Why `ort-cuda` cannot run here, or null when it can. */
export function cudaUnavailableReason(): string | null {
  const providers = availableProviders();
  return providers.includes('cuda')
    ? null
    : `this onnxruntime-node install has no CUDA execution provider (providers: ${providers.join(', ')}); install it with npm install --onnxruntime-node-install=cuda12 (deploy/ORT-GPU.md)`;
}

export interface ModelRefLike {
  name: string;
  sha256: string;
  path?: string;
}

/** The ONNX graph a task's model can run from, with the digest to check: the model itself or its zoo twin. */
export function onnxSource(ref: ModelRefLike): { file: string; sha256: string } | null {
  if (ref.path !== undefined) {
    const found = detectModelFormat(ref.path);
    return 'format' in found && found.format === 'onnx' ? { file: ref.path, sha256: ref.sha256 } : null;
  }
  const z = zooModel(ref.name);
  if (!z) return null;
  if (z.format === 'onnx') return { file: z.dir, sha256: z.sha256 };
  const twin = z.onnxTwin;
  return twin ? { file: path.join(ZOO_DIR, twin.path), sha256: twin.sha256 } : null;
}

const models = new Map<string, OrtModel | Error>();

/** An ONNX file, digest-checked, with its gradient graphs (cached per file, digest, provider and threads). */
export function loadOrtModel(file: string, sha256: string, provider: 'cpu' | 'cuda', threads: number): OrtModel {
  const key = `${file}@${sha256}@${provider}@${threads}`;
  const hit = models.get(key);
  if (hit instanceof Error) throw hit;
  if (hit) return hit;
  try {
    if (!existsSync(file)) throw new ModelLoadError(file, 'file not found');
    const bytes = readFileSync(file);
    const digest = createHash('sha256').update(bytes).digest('hex');
    if (digest !== sha256) throw new ModelLoadError(file, `sha256 mismatch: expected ${sha256}, file has ${digest}`);
    const m = new OrtModel(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { provider, threads });
    models.set(key, m);
    return m;
  } catch (e) {
    // permanent errors (digest, unsupported op) are remembered; anything else is retried next time
    if ((e as { permanent?: boolean }).permanent) models.set(key, e as Error);
    throw e;
  }
}

export interface OrtChoice {
  engine: OrtEngineName;
  model: OrtModel;
}

/**
 * The ONNX Runtime model for a task, or null when the tfjs engine should run it (request 'tfjs',
 * or 'auto' with no ONNX graph or an op without an adjoint). Explicit requests that cannot be met
 * throw permanent errors naming the reason.
 */
export function chooseOrtEngine(ref: ModelRefLike, request: EngineRequest, tfjsBackend?: string, threads = ortThreads()): OrtChoice | null {
  if (request === 'tfjs') return null;
  // auto keeps TensorFlow (tfjs-node, tfjs-node-gpu: a GPU or a multi-threaded CPU runtime) over
  // ONNX Runtime on one CPU core; ask for ort / ort-cuda explicitly there
  if (request === 'auto' && tfjsBackend === 'tensorflow') return null;
  const src = onnxSource(ref);
  if (!src) {
    if (request === 'auto') return null;
    throw new EngineRequestError(`engine ${request} needs an ONNX model; ${ref.name} is a LayersModel without an ONNX twin`);
  }
  const provider = request === 'ort-cuda' ? 'cuda' : 'cpu';
  if (provider === 'cuda') {
    const why = cudaUnavailableReason();
    if (why) throw new EngineUnavailableError(request, why);
  }
  try {
    return { engine: provider === 'cuda' ? 'ort-cuda' : 'ort-cpu', model: loadOrtModel(src.file, src.sha256, provider, threads) };
  } catch (e) {
    if (request === 'auto' && (e instanceof UnsupportedOpError || e instanceof OrtGraphError)) return null;
    throw e;
  }
}
