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
  /** name of the budget option (k, epsilonBudget), or null when the attack has none */
  readonly budgetOption: string | null;
  /**
   * Preset ⊕ user options ⊕ steps, validated (throws ZodError naming the option; every number
   * must be finite); returns the
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

/** How many units of `unit` a sample of shape [H, W, C] has: H·W pixels, H·W·C features. */
export function budgetCapacity(unit: BudgetUnit, sampleShape: readonly number[]): number {
  const [h, w, c] = sampleShape;
  return unit === 'pixel' ? h * w : h * w * c;
}

/**
 * One issue per number that is not finite (Infinity, -Infinity, NaN: what YAML's `.inf` and
 * `.nan` parse to; zod 3's `z.number()` accepts ±Infinity), at any depth of the options.
 */
function nonFiniteIssues(value: unknown, path: (string | number)[] = []): z.ZodIssue[] {
  if (typeof value === 'number') return Number.isFinite(value) ? [] : [{ code: 'custom', path, message: `must be a finite number, got ${value}` }];
  if (Array.isArray(value)) return value.flatMap((v, i) => nonFiniteIssues(v, [...path, i]));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => nonFiniteIssues(v, [...path, k]));
  return [];
}

/** Parse options with `schema`, rejecting non-finite numbers first: the one check every attack's options pass. */
function parseOptions<S extends z.ZodTypeAny>(schema: S, merged: Record<string, unknown>): z.SafeParseReturnType<unknown, z.output<S>> {
  const bad = nonFiniteIssues(merged);
  const r = schema.safeParse(merged);
  if (!bad.length) return r;
  const flagged = new Set(bad.map((i) => i.path.join('.')));
  const rest = r.success ? [] : r.error.issues.filter((i) => !flagged.has(i.path.join('.')));
  return { success: false, error: new z.ZodError([...bad, ...rest]) };
}

export function defineAttack<S extends z.ZodType<StepOptions, z.ZodTypeDef, unknown>>(spec: AttackSpec<S>): AttackDefinition {
  const preset: Record<string, unknown> = { ...spec.preset };
  const merge = (options: Record<string, unknown>, steps?: number) => ({ ...preset, ...options, ...(steps === undefined ? {} : { steps }) });
  const bind = (options: Record<string, unknown>, steps?: number): BoundAttack => {
    const r = parseOptions(spec.options, merge(options, steps));
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
    budgetOption: spec.budget?.option ?? null,
    resolve(user, steps) {
      const r = parseOptions(spec.options, merge(user, steps));
      if (!r.success) throw r.error;
      const { steps: _steps, ...rest } = r.data as Record<string, unknown>;
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

/** An attack stopped between two steps because its thread is shutting down (agent/worker-main.ts). */
export class AttackStoppedError extends Error {
  constructor() {
    super('attack stopped: the tensor worker is shutting down');
    this.name = 'AttackStoppedError';
  }
}

let stopRequested = false;

/**
 * Make every running attack in this thread stop at its next step boundary. A tensor worker is
 * shut down this way, not by terminating it mid-step: terminating a thread inside a native call
 * (onnxruntime-node's run) aborts the whole process.
 */
export function requestAttackStop(): void {
  stopRequested = true;
}

/**
 * Let the event loop breathe between attack steps (progress messages, heartbeats, working(), a
 * stop request); rejects with AttackStoppedError once a stop was requested.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve, reject) => setImmediate(() => (stopRequested ? reject(new AttackStoppedError()) : resolve())));
}
