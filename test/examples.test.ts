/**
 * Every example spec in examples/ is valid as shipped; the CIFAR-10 one needs the user's data, so it
 * must fail on exactly that (the folder named, exit-2 kind of error), not on anything else.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSpecFile, SpecError } from '../orchestrator/spec.ts';

const DIR = path.resolve('examples');
const NEEDS_USER_DATA = new Set(['cifar10-onnx.yaml']);

describe('examples', () => {
  it.each(readdirSync(DIR).filter((f) => f.endsWith('.yaml')))('%s', (file) => {
    const load = () => loadSpecFile(path.join(DIR, file));
    if (!NEEDS_USER_DATA.has(file)) {
      expect(load().attacks.length).toBeGreaterThan(0);
      return;
    }
    const err = (() => {
      try {
        load();
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(SpecError);
    expect((err as SpecError).problems).toEqual([expect.stringMatching(/^datasets\[0\]\.path: .*cifar-10-batches-bin: no such folder/)]);
  });
});
