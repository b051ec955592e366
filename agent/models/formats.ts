/**
 * Model formats and how a location on disk is recognised and digested: a TensorFlow.js LayersModel
 * folder (model.json + weights files; sha256 over model.json then the weights, in manifest order)
 * or an ONNX file (sha256 of the file's bytes, what `sha256sum model.onnx` prints).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { folderDigest, ModelLoadError } from './io.ts';

export const MODEL_FORMATS = ['tfjs-layers', 'onnx'] as const;
export type ModelFormat = (typeof MODEL_FORMATS)[number];

/** What a spec's `path` points at, or a sentence saying why it is neither. */
export function detectModelFormat(location: string): { format: ModelFormat } | { problem: string } {
  if (!existsSync(location)) return { problem: `${location} does not exist` };
  const st = statSync(location);
  if (st.isDirectory()) {
    return existsSync(path.join(location, 'model.json')) ? { format: 'tfjs-layers' } : { problem: `no model.json in ${location} (a TensorFlow.js LayersModel folder or an .onnx file)` };
  }
  if (location.toLowerCase().endsWith('.onnx')) return { format: 'onnx' };
  return { problem: `${location} is neither a LayersModel folder (model.json) nor an .onnx file` };
}

/** The sha256 a spec or the zoo must state for the model at `location`. */
export function modelDigest(location: string, format: ModelFormat): string {
  if (format === 'tfjs-layers') return folderDigest(location);
  if (!existsSync(location)) throw new ModelLoadError(location, 'file not found');
  return createHash('sha256').update(readFileSync(location)).digest('hex');
}
