/**
 * Attacks by name, as sweep specs refer to them. Each entry: the attack function, its options
 * schema (strict: unknown options are errors) and an optional preset merged under the user's
 * options. The step budget of a sweep is passed as `steps`.
 */
import { z } from 'zod';
import type { Attack } from './types.ts';
import { sigmaZero, sigmaZeroOptionsSchema, SIGMA_ZERO_STAR } from './sigma-zero.ts';
import { fmnL0, fmnOptionsSchema } from './fmn.ts';
import { pgdL0, pgdL0OptionsSchema } from './pgd-l0.ts';
import { sparseRs, sparseRsOptionsSchema } from './sparse-rs.ts';
import { ead, eadOptionsSchema } from './ead.ts';
import { budgetSearch } from './budget-search.ts';

export interface AttackEntry {
  name: string;
  description: string;
  run: Attack<Record<string, unknown>>;
  options: z.ZodTypeAny;
  preset: Record<string, unknown>;
}

const entries: AttackEntry[] = [
  {
    name: 'sigma-zero',
    description: 'σ-zero (official V3 code): Adam on the ℓ∞-normalised gradient, cosine schedule, adaptive τ',
    run: sigmaZero as Attack<Record<string, unknown>>,
    options: sigmaZeroOptionsSchema,
    preset: {},
  },
  {
    name: 'sigma-zero*',
    description: 'σ-zero with the σ-zero* preset (η0 0.1, σ 1, τ0 0.1, t 0.0015)',
    run: sigmaZero as Attack<Record<string, unknown>>,
    options: sigmaZeroOptionsSchema,
    preset: { ...SIGMA_ZERO_STAR },
  },
  {
    name: 'fmn-l0',
    description: 'FMN, ℓ0 (adversarial-library fmn, norm=0): minimum-norm, ε adapted per step',
    run: fmnL0 as Attack<Record<string, unknown>>,
    options: fmnOptionsSchema,
    preset: {},
  },
  {
    name: 'pgd-l0',
    description: 'PGD-ℓ0 (Croce & Hein): fixed budget k in PIXELS (option k), random start',
    run: pgdL0 as Attack<Record<string, unknown>>,
    options: pgdL0OptionsSchema,
    preset: {},
  },
  {
    name: 'sparse-rs',
    description: 'Sparse-RS ℓ0 in feature space: fixed budget k in FEATURES, gradient-free (steps = query budget)',
    run: sparseRs as Attack<Record<string, unknown>>,
    options: sparseRsOptionsSchema,
    preset: {},
  },
  {
    name: 'ead',
    description: 'EAD (elastic-net ℓ1, EN rule): 9 binary-search steps × steps FISTA iterations; failures return x',
    run: ead as Attack<Record<string, unknown>>,
    options: eadOptionsSchema,
    preset: {},
  },
  {
    name: 'noop',
    description: 'returns the inputs unchanged, no model calls: for orchestration benchmarks and pipeline checks',
    run: async (_model, inputs) => ({ adversarials: inputs.clone() }),
    options: z.object({ steps: z.number().int().min(1).default(1) }).strict(),
    preset: {},
  },
  searchEntry('pgd-l0+search', 'PGD-ℓ0 inside the sample-wise binary search over k (10 calls of steps/10)', pgdL0, pgdL0OptionsSchema, 'pixel'),
  searchEntry('sparse-rs+search', 'Sparse-RS inside the sample-wise binary search over k (10 calls of steps/10)', sparseRs, sparseRsOptionsSchema, 'feature'),
];

/** A minimum-norm attack from a fixed-budget one: the budget search of budget-search.ts around it. */
function searchEntry(
  name: string,
  description: string,
  inner: Attack<never>,
  innerSchema: z.AnyZodObject,
  unit: 'pixel' | 'feature',
): AttackEntry {
  const options = innerSchema.omit({ k: true }).extend({
    steps: z.number().int().min(1).default(100),
    k0: z.number().int().min(1).default(100),
    searchSteps: z.number().int().min(1).default(10),
  });
  const run: Attack<Record<string, unknown>> = (model, inputs, labels, opts) => {
    const { steps, k0, searchSteps, ...rest } = options.parse(opts) as { steps: number; k0: number; searchSteps: number };
    const [, H, W, C] = inputs.shape;
    return budgetSearch(model, inputs, labels, {
      attack: inner as Attack<Record<string, unknown>>,
      options: rest,
      innerSteps: Math.max(1, Math.round(steps / searchSteps)),
      maxBudget: unit === 'pixel' ? H * W : H * W * C,
      k0,
      searchSteps,
    });
  };
  return { name, description, run, options, preset: {} };
}

export const ATTACKS: ReadonlyMap<string, AttackEntry> = new Map(entries.map((e) => [e.name, e]));

export class UnknownAttackError extends Error {
  constructor(readonly attack: string) {
    super(`unknown attack '${attack}' (known: ${[...ATTACKS.keys()].join(', ')})`);
    this.name = 'UnknownAttackError';
  }
}

export function getAttack(name: string): AttackEntry {
  const e = ATTACKS.get(name);
  if (!e) throw new UnknownAttackError(name);
  return e;
}

/** Preset ⊕ user options ⊕ steps, validated; returns the full option set the attack will run with. */
export function resolveAttackOptions(name: string, options: Record<string, unknown>, steps: number): Record<string, unknown> {
  const e = getAttack(name);
  return e.options.parse({ ...e.preset, ...options, steps }) as Record<string, unknown>;
}
