/**
 * One definition per attack: its name, its options schema (strict, with the official defaults), an
 * optional preset merged under the user's options, what its budget option is and in which unit,
 * and the run function, which receives options already validated and typed.
 *
 * Options are validated where they enter: once when a sweep spec is checked (`resolve`, per step
 * budget; what the planner puts in the tasks), and once where a task crosses a wire or thread edge
 * on its way to a tensor runtime (`bind`, which returns the attack with its options fixed, so
 * nothing below it ever parses again). The generic options type stays inside the definition: the
 * registry holds `AttackDefinition`s whose methods need no casts.
 */
import type * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { formatZodIssues, WireFormatError } from '../../schema/wire.ts';
import type { AttackResult, Classifier } from './types.ts';

/** What a fixed budget counts: pixels (all channels of a pixel move together) or features. */
export type BudgetUnit = 'pixel' | 'feature';

export interface Budget {
  value: number;
  unit: BudgetUnit;
}

/** Every attack has a step budget, set by the sweep's `steps` list, never by the attack options. */
type StepOptions = { steps: number };

export interface AttackSpec<S extends z.ZodType<StepOptions, z.ZodTypeDef, unknown>> {
  name: string;
  description: string;
  options: S;
  preset?: Partial<z.input<S>>;
  /** the option holding a fixed budget (k, epsilonBudget) and its unit; absent for minimum-norm attacks */
  budget?: { option: Exclude<keyof z.output<S>, 'steps'> & string; unit: BudgetUnit };
  run: (model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, options: z.output<S>) => Promise<AttackResult>;
}

/** An attack with its options fixed: call it on batches. */
export type BoundAttack = (model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D) => Promise<AttackResult>;

export interface AttackDefinition {
  readonly name: string;
  readonly description: string;
  readonly options: z.ZodTypeAny;
  readonly preset: Readonly<Record<string, unknown>>;
  /** unit of the budget option, or null when the attack has none */
  readonly budgetUnit: BudgetUnit | null;
  /**
   * Preset ⊕ user options ⊕ steps, validated (throws ZodError naming the option); returns the
   * complete option set without `steps` (a task carries its step budget once, as `steps`).
   */
  resolve(user: Record<string, unknown>, steps: number): Record<string, unknown>;
  /** The fixed budget a resolved option set asks for, or null (minimum-norm run). */
  budget(options: Record<string, unknown>): Budget | null;
  /** Validate options at an edge (WireFormatError naming the option) and fix them: the attack, ready to run. */
  bind(options: Record<string, unknown>, steps?: number): BoundAttack;
  /** bind + run in one call, for direct use (tests, library callers) */
  run(model: Classifier, inputs: tf.Tensor4D, labels: tf.Tensor1D, options: Record<string, unknown>): Promise<AttackResult>;
}

export function defineAttack<S extends z.ZodType<StepOptions, z.ZodTypeDef, unknown>>(spec: AttackSpec<S>): AttackDefinition {
  const preset: Record<string, unknown> = { ...spec.preset };
  const merge = (options: Record<string, unknown>, steps?: number) => ({ ...preset, ...options, ...(steps === undefined ? {} : { steps }) });
  const bind = (options: Record<string, unknown>, steps?: number): BoundAttack => {
    const r = spec.options.safeParse(merge(options, steps));
    if (!r.success) throw new WireFormatError(`options of attack ${spec.name}`, formatZodIssues(r.error));
    const o = r.data;
    return (model, inputs, labels) => spec.run(model, inputs, labels, o);
  };
  return {
    name: spec.name,
    description: spec.description,
    options: spec.options,
    preset,
    budgetUnit: spec.budget?.unit ?? null,
    resolve(user, steps) {
      const { steps: _steps, ...rest } = spec.options.parse(merge(user, steps)) as Record<string, unknown>;
      return rest;
    },
    budget(options) {
      if (!spec.budget) return null;
      const v = options[spec.budget.option];
      return typeof v === 'number' ? { value: v, unit: spec.budget.unit } : null;
    },
    bind,
    run: (model, inputs, labels, options) => bind(options)(model, inputs, labels),
  };
}

/** Let the event loop breathe between attack steps (progress messages, heartbeats, working()). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
