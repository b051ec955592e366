/**
 * `--engine` for the commands that run attacks (run, agent): which engine computes the model's
 * forwards and input gradients (agent/engine/ort/engine.ts). The choice travels to the tensor
 * worker threads through the environment (agent/engine/ort/request.ts).
 */
import { Option } from 'commander';
import { configureEngine, ENGINES, type EngineRequest } from '../../agent/engine/ort/request.ts';
import { UsageError } from './options.ts';

export function engineOption(): Option {
  return new Option(
    '--engine <name>',
    'model engine: ort (ONNX Runtime, CPU), ort-cuda (its CUDA 12 provider), tfjs (the --backend), auto (ort where the model is ONNX or has an ONNX twin and every op is differentiable, unless the backend is tensorflow; tfjs otherwise)',
  )
    .choices([...ENGINES])
    .default('auto');
}

/** Apply the flag for this process and its workers; ort-cuda without the CUDA provider is a usage error (exit 2). */
export async function applyEngine(engine: EngineRequest, slots: number): Promise<void> {
  if (engine === 'ort-cuda') {
    const { cudaUnavailableReason } = await import('../../agent/engine/ort/engine.ts');
    const why = cudaUnavailableReason();
    if (why) throw new UsageError(`--engine ort-cuda: ${why}`);
  }
  configureEngine(engine, slots);
}
