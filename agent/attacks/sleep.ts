/**
 * `sleep`: waits a fixed time per sample and returns the inputs unchanged, with no model calls.
 * A stand-in for real attack work in orchestration benchmarks (`npm run bench:scale`): the wait
 * is a timer, not a busy loop, so dozens of agents can "work" at once on a 2-core machine and the
 * benchmark measures the queue, not the CPU. `ms` is per sample: a batch of b samples waits b·ms.
 */
import { z } from 'zod';
import { defineAttack } from './define.ts';

export const sleepAttack = defineAttack({
  name: 'sleep',
  description: 'waits options.ms milliseconds per sample (a timer, no CPU) and returns the inputs: orchestration benchmarks',
  options: z.object({ steps: z.number().int().min(1).default(1), ms: z.number().min(0).max(3_600_000).default(1000) }).strict(),
  run: async (_model, inputs, _labels, { ms }) => {
    await new Promise((resolve) => setTimeout(resolve, ms * inputs.shape[0]));
    return { adversarials: inputs.clone() };
  },
});
