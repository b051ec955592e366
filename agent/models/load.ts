/**
 * Model resolution for tasks: zoo name or folder path, sha256-verified, prepared for input
 * gradients (engine/linear-conv.ts), cached per process.
 */
import { loadLayersModelFolder, ModelLoadError } from './io.ts';
import { zooModel } from './zoo.ts';
import { prepareForInputGradients } from '../engine/linear-conv.ts';
import { layersNet, type Net } from '../engine/net.ts';

const cache = new Map<string, Promise<Net>>();

export function loadTaskModel(ref: { name: string; sha256: string; path?: string }): Promise<Net> {
  const key = `${ref.name}@${ref.sha256}`;
  let p = cache.get(key);
  if (!p) {
    const dir = ref.path ?? zooModel(ref.name)?.dir;
    p = dir ? loadLayersModelFolder(dir, ref.sha256).then((m) => (prepareForInputGradients(m), layersNet(m))) : Promise.reject(new ModelLoadError(ref.name, 'not in the zoo and no path given'));
    p.catch(() => cache.delete(key));
    cache.set(key, p);
  }
  return p;
}
