/**
 * Tensors derived from model weights (flipped and sub-sampled convolution filters, transposed
 * dense kernels), cached per weight buffer. Weights are constant during an attack; a stable
 * derived tensor also lets XNNPACK keep its packed copy (its operator cache is keyed by buffer),
 * instead of deriving and re-packing every weight at every step.
 *
 * Only tensors whose buffer belongs to a registered tf.Variable are cached (any other tensor could
 * be disposed and its buffer id reused); entries of variables that were disposed or re-assigned are
 * disposed at the next miss, so training (which re-assigns weights) does not accumulate entries.
 */
import * as tf from '@tensorflow/tfjs';

const cache = new Map<object, { variable: tf.Variable; derived: Map<string, tf.Tensor> }>();

function variableOf(dataId: object): tf.Variable | undefined {
  const vars = tf.engine().state.registeredVariables;
  for (const name in vars) if (vars[name].dataId === dataId) return vars[name];
  return undefined;
}

/** Whether `t` shares its buffer with a registered tf.Variable (a model weight). */
export function isWeight(t: { dataId: object }): boolean {
  return variableOf(t.dataId) !== undefined;
}

function sweep(): void {
  for (const [dataId, entry] of cache) {
    if (entry.variable.isDisposed || entry.variable.dataId !== dataId) {
      tf.dispose([...entry.derived.values()]);
      cache.delete(dataId);
    }
  }
}

/** `make()` of a weight, cached under `key`; for tensors that are not weights, just `make()`. */
export function derivedFromWeight<T extends tf.Tensor>(weight: tf.Tensor, key: string, make: () => T): T {
  const hit = cache.get(weight.dataId)?.derived.get(key);
  if (hit) return hit as T;
  sweep();
  const variable = variableOf(weight.dataId);
  if (!variable) return make();
  let entry = cache.get(weight.dataId);
  if (!entry) cache.set(weight.dataId, (entry = { variable, derived: new Map() }));
  const t = tf.keep(make());
  entry.derived.set(key, t);
  return t;
}

/** Number of cached derived tensors, after dropping those of disposed weights (tests, diagnostics). */
export function derivedCount(): number {
  sweep();
  let n = 0;
  for (const e of cache.values()) n += e.derived.size;
  return n;
}
