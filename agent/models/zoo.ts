/**
 * The model zoo: one manifest (agent/models/zoo/manifest.json) for the built-in models, trained by
 * this project's own committed commands and shipped with their weights and digests. User models
 * are named in a spec by path with their sha256 and described by the same facts when verified
 * (`sigma-sweep models verify`). An entry's `path` is relative to the zoo folder: a LayersModel
 * folder (model.json + weights) or an .onnx file.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { MODEL_FORMATS } from './formats.ts';

export const ZOO_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'zoo');

const entrySchema = z
  .object({
    path: z.string(),
    format: z.enum(MODEL_FORMATS),
    dataset: z.string(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    description: z.string(),
    /** [H, W, C] of one input, as the engine feeds it (NHWC) */
    inputShape: z.tuple([z.number().int(), z.number().int(), z.number().int()]),
    /** the value range the model expects its inputs in */
    inputRange: z.tuple([z.number(), z.number()]),
    /** on the dataset's full test split */
    cleanAccuracy: z.number(),
    /** robust accuracy where it was measured: the attack, its budget and the sample count in `robustness` */
    robustAccuracy: z.number().optional(),
    robustness: z.string().optional(),
    trainCommand: z.string(),
    /** where the weights come from and under which licence */
    source: z.string(),
    /**
     * an ONNX graph computing the same function (logits within 1e-5 on 100 test images), written by
     * `node --import tsx agent/models/onnx-export/cli.ts <name>`: the ONNX Runtime engine runs it
     * (engine/ort/engine.ts); path relative to the zoo folder, sha256 of the file
     */
    onnxTwin: z.object({ path: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict().optional(),
  })
  .strict();
const manifestSchema = z.record(z.string(), entrySchema);
export type ZooEntry = z.infer<typeof entrySchema>;

let manifest: Record<string, ZooEntry> | null = null;

export function zooManifest(): Record<string, ZooEntry> {
  manifest ??= manifestSchema.parse(JSON.parse(readFileSync(path.join(ZOO_DIR, 'manifest.json'), 'utf8')));
  return manifest;
}

/** A zoo entry with its absolute location (`dir` kept as the name callers know: folder or file). */
export function zooModel(name: string): (ZooEntry & { dir: string }) | undefined {
  const e = zooManifest()[name];
  return e ? { ...e, dir: path.join(ZOO_DIR, e.path) } : undefined;
}
