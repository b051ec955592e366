/**
 * Attacks by name, as sweep specs refer to them: one definition each (agent/attacks/define.ts),
 * living next to its attack. A sweep's step budget is passed as `steps`.
 */
import { z } from 'zod';
import { PermanentError } from '../../schema/errors.ts';
import { defineAttack, type AttackDefinition } from './define.ts';
import { defineBudgetSearch } from './budget-search.ts';
import { sigmaZeroAttack, sigmaZeroStarAttack } from './sigma-zero.ts';
import { fmnL0Attack } from './fmn.ts';
import { pgdL0Attack, pgdL0OptionsSchema, runPgdL0 } from './pgd-l0.ts';
import { sparseRsAttack, sparseRsOptionsSchema, runSparseRs } from './sparse-rs.ts';
import { eadAttack } from './ead.ts';
import { vfgaAttack } from './vfga.ts';
import { pdpgdL0Attack } from './pdpgd.ts';
import { bbL0AdvAttack, bbL0Attack } from './bb.ts';
import { sparsefoolAttack } from './sparsefool.ts';
import { runSpgd, spgdAttack, spgdOptionsSchema } from './spgd.ts';
import { sleepAttack } from './sleep.ts';

const noopAttack = defineAttack({
  name: 'noop',
  description: 'returns the inputs unchanged, no model calls: for orchestration benchmarks and pipeline checks',
  options: z.object({ steps: z.number().int().min(1).default(1) }).strict(),
  run: async (_model, inputs) => ({ adversarials: inputs.clone() }),
});

const definitions: AttackDefinition[] = [
  sigmaZeroAttack,
  sigmaZeroStarAttack,
  fmnL0Attack,
  pgdL0Attack,
  sparseRsAttack,
  eadAttack,
  vfgaAttack,
  pdpgdL0Attack,
  bbL0Attack,
  bbL0AdvAttack,
  sparsefoolAttack,
  spgdAttack,
  noopAttack,
  sleepAttack,
  defineBudgetSearch({
    name: 'pgd-l0+search',
    description: 'PGD-ℓ0 inside the sample-wise binary search over k (10 calls of steps/10)',
    inner: { options: pgdL0OptionsSchema, run: runPgdL0 },
    unit: 'pixel',
  }),
  defineBudgetSearch({
    name: 'sparse-rs+search',
    description: 'Sparse-RS inside the sample-wise binary search over k (10 calls of steps/10)',
    inner: { options: sparseRsOptionsSchema, run: runSparseRs },
    unit: 'feature',
  }),
  defineBudgetSearch({
    name: 'spgd+search',
    description: 'sparse-PGD inside the sample-wise binary search over k (10 calls of steps/10)',
    inner: { options: spgdOptionsSchema, run: runSpgd },
    unit: 'feature',
  }),
];

export const ATTACKS: ReadonlyMap<string, AttackDefinition> = new Map(definitions.map((d) => [d.name, d]));

export class UnknownAttackError extends PermanentError {
  constructor(readonly attack: string) {
    super(`unknown attack '${attack}' (known: ${[...ATTACKS.keys()].join(', ')})`);
    this.name = 'UnknownAttackError';
  }
}

export function getAttack(name: string): AttackDefinition {
  const d = ATTACKS.get(name);
  if (!d) throw new UnknownAttackError(name);
  return d;
}
