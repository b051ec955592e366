/**
 * Logical tensor-memory peak: the maximum of tfjs's own byte count (engine.state.numBytes) seen
 * between reset() and read(). tfjs only exposes the current value (tf.memory()) or a peak through
 * tf.profile(), which also records every kernel; instead we observe writes to the counter itself,
 * so every allocation is seen at no measurable cost. This is the "logical" memory of design.md,
 * not device memory (that comes from nvidia-smi on GPU agents).
 */
import * as tf from '@tensorflow/tfjs';

interface EngineState {
  numBytes: number;
}

let installedOn: EngineState | null = null;
let current = 0;
let peak = 0;

function install(): void {
  const state = (tf.engine() as unknown as { state: EngineState }).state;
  if (installedOn === state) return;
  current = state.numBytes;
  peak = current;
  Object.defineProperty(state, 'numBytes', {
    configurable: true,
    enumerable: true,
    get: () => current,
    set: (v: number) => {
      current = v;
      if (v > peak) peak = v;
    },
  });
  installedOn = state;
}

export const memoryPeak = {
  /** Start a new measurement window at the current allocation level. */
  reset(): void {
    install();
    peak = current;
  },
  /** Peak logical bytes since the last reset. */
  read(): number {
    install();
    return peak;
  },
};
