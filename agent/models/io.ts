/**
 * LayersModel folders on the local file system (model.json + one weights file), without
 * tfjs-node's file:// handler. `loadLayersModelFolder` verifies the sha256 of model.json and of
 * the weights when the caller passes the expected digest (zoo manifest), and every failure names
 * the folder and the file.
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { PermanentError } from '../../schema/errors.ts';

export class ModelLoadError extends PermanentError {
  constructor(
    readonly location: string,
    detail: string,
  ) {
    super(`model at ${location}: ${detail}`);
    this.name = 'ModelLoadError';
  }
}

const WEIGHTS_FILE = 'weights.bin';

/** sha256 over model.json followed by every weights file it references, in manifest order. */
export function folderDigest(dir: string): string {
  const jsonPath = path.join(dir, 'model.json');
  if (!existsSync(jsonPath)) throw new ModelLoadError(dir, 'model.json not found');
  const json = readFileSync(jsonPath);
  const h = createHash('sha256').update(json);
  const manifest = parseModelJson(dir, json).weightsManifest as tf.io.WeightsManifestConfig;
  for (const group of manifest) for (const p of group.paths) h.update(readWeightsFile(dir, p));
  return h.digest('hex');
}

function parseModelJson(dir: string, json: Buffer): tf.io.ModelJSON {
  try {
    const m = JSON.parse(json.toString('utf8')) as tf.io.ModelJSON;
    if (!m.modelTopology || !Array.isArray(m.weightsManifest)) throw new Error('missing modelTopology or weightsManifest');
    return m;
  } catch (e) {
    throw new ModelLoadError(dir, `model.json is not a TensorFlow.js LayersModel (${(e as Error).message})`);
  }
}

function readWeightsFile(dir: string, rel: string): Buffer {
  const p = path.join(dir, rel);
  if (path.relative(dir, p).startsWith('..')) throw new ModelLoadError(dir, `weights path ${rel} escapes the folder`);
  if (!existsSync(p)) throw new ModelLoadError(dir, `weights file ${rel} not found`);
  return readFileSync(p);
}

export async function loadLayersModelFolder(dir: string, expectedSha256?: string): Promise<tf.LayersModel> {
  if (expectedSha256) {
    const got = folderDigest(dir);
    if (got !== expectedSha256) throw new ModelLoadError(dir, `sha256 mismatch: expected ${expectedSha256}, got ${got}`);
  }
  const json = parseModelJson(dir, readFileSync(path.join(dir, 'model.json')));
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(readWeightsFile(dir, p));
  }
  const all = Buffer.concat(buffers);
  const expectedBytes = specs.reduce((a, s) => a + 4 * s.shape.reduce((x, y) => x * y, 1), 0);
  if (all.length !== expectedBytes) {
    throw new ModelLoadError(dir, `weights hold ${all.length} bytes, manifest needs ${expectedBytes}`);
  }
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  try {
    return await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData, format: json.format, generatedBy: json.generatedBy }),
    );
  } catch (e) {
    throw new ModelLoadError(dir, `tfjs could not build the model: ${(e as Error).message}`);
  }
}

export async function saveLayersModelFolder(model: tf.LayersModel, dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (art) => {
      const data = art.weightData as ArrayBuffer;
      writeFileSync(path.join(dir, WEIGHTS_FILE), Buffer.from(data));
      const json: tf.io.ModelJSON = {
        modelTopology: art.modelTopology!,
        format: 'layers-model',
        generatedBy: art.generatedBy,
        convertedBy: null,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: art.weightSpecs! }],
      };
      writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } };
    }),
  );
  return folderDigest(dir);
}
