/** Small sweep specs for the distributed tests. */
import { validateSpec, type SweepSpec } from '../../orchestrator/spec.ts';

/** n tasks of one MNIST test image each, σ-zero with `steps` steps. */
export function tinySweep(name: string, n: number, steps: number, extra: Record<string, unknown> = {}): SweepSpec {
  return validateSpec(
    {
      name,
      datasets: [{ name: 'mnist', split: 'test', samples: { first: n } }],
      models: ['mnist-smallcnn'],
      attacks: ['sigma-zero'],
      steps: [steps],
      batchSize: 1,
      shardSize: 1,
      ...extra,
    },
    `${name}.yaml`,
    process.cwd(),
  );
}
