/**
 * Model resolution for tasks: a zoo name or a location (LayersModel folder or .onnx file),
 * sha256-verified, loaded to the engine's Net (agent/engine/net.ts) and cached per process.
 * LayersModels are prepared for input gradients (engine/linear-conv.ts); ONNX graphs are built
 * on the same fast input-gradient kernels by their importer (models/onnx/).
 */
import { loadLayersModelFolder, ModelLoadError } from './io.ts';
import { zooModel } from './zoo.ts';
import { detectModelFormat, type ModelFormat } from './formats.ts';
import { prepareForInputGradients } from '../engine/linear-conv.ts';
import { layersNet, type Net } from '../engine/net.ts';

const cache = new Map<string, Promise<Net>>();

export interface ModelRef {
  name: string;
  sha256: string;
  /** a LayersModel folder or an .onnx file; absent for zoo models */
  path?: string;
}

/** Where a model lives and in which format: its zoo entry, or what its path holds. */
export function locateModel(ref: ModelRef): { location: string; format: ModelFormat } {
  if (ref.path === undefined) {
    const z = zooModel(ref.name);
    if (!z) throw new ModelLoadError(ref.name, 'not in the zoo and no path given');
    return { location: z.dir, format: z.format };
  }
  const found = detectModelFormat(ref.path);
  if ('problem' in found) throw new ModelLoadError(ref.path, found.problem);
  return { location: ref.path, format: found.format };
}

async function loadNet(location: string, format: ModelFormat, sha256: string): Promise<Net> {
  if (format === 'onnx') {
    // loaded on demand: the importer and its protobuf package cost start-up time a tfjs-only agent need not pay
    const onnxModule = './onnx/load.ts';
    const { loadOnnxNet } = (await import(onnxModule)) as { loadOnnxNet(file: string, sha256: string): Promise<Net> };
    return loadOnnxNet(location, sha256);
  }
  const m = await loadLayersModelFolder(location, sha256);
  prepareForInputGradients(m);
  return layersNet(m);
}

export function loadTaskModel(ref: ModelRef): Promise<Net> {
  const key = `${ref.name}@${ref.sha256}@${ref.path ?? ''}`;
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      const { location, format } = locateModel(ref);
      return loadNet(location, format, ref.sha256);
    })();
    p.catch(() => cache.delete(key));
    cache.set(key, p);
  }
  return p;
}
