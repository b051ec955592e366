/**
 * `sigma-sweep models verify`: the checks a model must pass before a sweep spends hours on it —
 * its digest, its input/output contract against a dataset (the same check tasks run), and its
 * clean accuracy on the first samples of the test split (against the zoo's recorded accuracy, when
 * there is one: a model that loads but computes nonsense, e.g. a wrong flatten order after an
 * import, fails here).
 */
import type { DatasetInfo } from '../data/dataset.ts';
import { getDataset, loadDataset } from '../data/registry.ts';
import { checkModelFits } from '../run-batch.ts';
import { cleanAccuracy } from './accuracy.ts';
import { modelDigest, type ModelFormat } from './formats.ts';
import { loadTaskModel } from './load.ts';

export interface VerifyInput {
  name: string;
  location: string;
  format: ModelFormat;
  /** the digest the model must have (zoo manifest or the user's); none: only report it */
  expectedSha256?: string;
  dataset: string;
  samples: number;
  /** the accuracy recorded for the whole test split, if any */
  recordedAccuracy?: number;
}

export interface Check {
  name: 'sha256' | 'contract' | 'accuracy';
  ok: boolean;
  detail: string;
}

/**
 * Whether an accuracy measured on n samples is consistent with one recorded on the full split:
 * within 4 binomial standard deviations plus half a point (the first n samples are not a random
 * draw, so allow some slack beyond sampling noise).
 */
export function accuracyConsistent(measured: number, recorded: number, n: number): boolean {
  const sd = Math.sqrt(Math.max(recorded * (1 - recorded), 1e-4) / n);
  return Math.abs(measured - recorded) <= 4 * sd + 0.005;
}

export async function verifyModel(input: VerifyInput): Promise<Check[]> {
  const checks: Check[] = [];
  const sha256 = modelDigest(input.location, input.format);
  if (input.expectedSha256 === undefined) checks.push({ name: 'sha256', ok: true, detail: `${sha256} (no expected digest given; put this one in your spec)` });
  else if (sha256 !== input.expectedSha256) {
    checks.push({ name: 'sha256', ok: false, detail: `mismatch: the file has ${sha256}, expected ${input.expectedSha256}` });
    return checks;
  } else checks.push({ name: 'sha256', ok: true, detail: sha256 });

  const info: DatasetInfo = getDataset(input.dataset);
  const net = await loadTaskModel({ name: input.name, sha256, path: input.location });
  try {
    checkModelFits(net, input.name, info);
  } catch (e) {
    checks.push({ name: 'contract', ok: false, detail: (e as Error).message });
    return checks;
  }
  const range = net.inputRange ? `, inputs in [${net.inputRange.min}, ${net.inputRange.max}] (${net.inputRange.source === 'metadata' ? 'from the model\'s metadata' : 'assumed: the model does not say'})` : '';
  checks.push({ name: 'contract', ok: true, detail: `${net.format} model takes [batch, ${info.sampleShape.join(', ')}] (NHWC in the engine) and gives [batch, ${info.numClasses}] logits${range}` });

  const data = loadDataset(input.dataset, 'test');
  const n = Math.min(input.samples, data.count);
  const acc = await cleanAccuracy(net, data, 250, n);
  const pct = (v: number) => `${(100 * v).toFixed(2)} %`;
  if (input.recordedAccuracy === undefined) checks.push({ name: 'accuracy', ok: true, detail: `${pct(acc)} on the first ${n} ${input.dataset} test samples` });
  else {
    const ok = accuracyConsistent(acc, input.recordedAccuracy, n);
    checks.push({
      name: 'accuracy',
      ok,
      detail: `${pct(acc)} on the first ${n} ${input.dataset} test samples; recorded ${pct(input.recordedAccuracy)} on the full split${ok ? '' : ' — inconsistent: the model computes something else than what was recorded'}`,
    });
  }
  return checks;
}
