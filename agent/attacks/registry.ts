/**
 * Attacks by name, as sweep specs refer to them. Each entry: the attack function, its options
 * schema (strict: unknown options are errors) and an optional preset merged under the user's
 * options. The step budget of a sweep is passed as `steps`.
 */
import type { z } from 'zod';
import type { Attack } from './types.ts';
import { sigmaZero, sigmaZeroOptionsSchema, SIGMA_ZERO_STAR } from './sigma-zero.ts';

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
];

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
