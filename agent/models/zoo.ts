/**
 * The built-in model zoo: models trained by this project's own code, committed with their weights,
 * training log and sha256 (agent/models/zoo/manifest.json). Spec files may also name a model folder
 * by path with its sha256.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export const ZOO_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'zoo');

const manifestSchema = z.record(
  z.string(),
  z
    .object({
      path: z.string(),
      dataset: z.string(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      description: z.string(),
      cleanAccuracy: z.number(),
      trainCommand: z.string(),
    })
    .strict(),
);
export type ZooEntry = z.infer<typeof manifestSchema>[string];

let manifest: Record<string, ZooEntry> | null = null;

export function zooManifest(): Record<string, ZooEntry> {
  manifest ??= manifestSchema.parse(JSON.parse(readFileSync(path.join(ZOO_DIR, 'manifest.json'), 'utf8')));
  return manifest;
}

export function zooModel(name: string): (ZooEntry & { dir: string }) | undefined {
  const e = zooManifest()[name];
  return e ? { ...e, dir: path.join(ZOO_DIR, e.path) } : undefined;
}
