/**
 * The ONNX Runtime plumbing the engine relies on: onnxruntime-node's native binding (a synchronous
 * run, which the synchronous Classifier contract needs; not a documented entry point, so an upgrade
 * that changes it must fail here), the engine request in the environment, and the --engine flag.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { availableProviders, floatTensor, OrtSession } from '../agent/engine/ort/session.ts';
import { DT, encodeModel, GraphWriter, valueInfo } from '../agent/engine/ort/onnx.ts';
import { configureEngine, engineRequest, ENGINE_ENV, EngineRequestError, ORT_THREADS_ENV, ortThreads } from '../agent/engine/ort/request.ts';
import { cli } from './helpers/cli.ts';
import { writeSpec } from './helpers/zoo.ts';

afterEach(() => {
  delete process.env[ENGINE_ENV];
  delete process.env[ORT_THREADS_ENV];
});

describe('onnxruntime-node binding', () => {
  it('runs a graph synchronously and returns typed arrays', () => {
    const w = new GraphWriter('s_');
    w.op('Mul', ['x', w.scalarF(3)], {}, ['y']);
    const bytes = encodeModel({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph: { name: 'g', node: w.nodes, initializer: w.initializers, input: [valueInfo('x', DT.FLOAT, [null, 2])], output: [valueInfo('y', DT.FLOAT, [null, 2])] } });
    const s = new OrtSession(bytes, { threads: 1, provider: 'cpu' });
    expect(s.inputNames).toEqual(['x']);
    const out = s.run({ x: floatTensor(Float32Array.of(1, -2, 0.5, 4), [2, 2]) });
    expect(out.y.dims).toEqual([2, 2]);
    expect(Array.from(out.y.data as Float32Array)).toEqual([3, -6, 1.5, 12]);
    s.dispose();
  });

  it('lists its execution providers (cpu always)', () => {
    expect(availableProviders()).toContain('cpu');
  });
});

describe('engine request', () => {
  it('defaults to auto, reads the environment, refuses a bad value naming it', () => {
    expect(engineRequest({})).toBe('auto');
    expect(engineRequest({ [ENGINE_ENV]: 'ort' })).toBe('ort');
    expect(() => engineRequest({ [ENGINE_ENV]: 'onnx' })).toThrow(EngineRequestError);
    expect(() => engineRequest({ [ENGINE_ENV]: 'onnx' })).toThrow(/SIGMA_SWEEP_ENGINE=onnx/);
  });

  it('gives each slot its share of the cores as ONNX Runtime threads', () => {
    configureEngine('ort', 2, 8);
    expect([engineRequest(), ortThreads()]).toEqual(['ort', 4]);
    configureEngine('auto', 16, 8);
    expect(ortThreads()).toBe(1);
  });
});

describe('--engine', () => {
  it('rejects an unknown engine and, without the CUDA provider, ort-cuda (exit 2, nothing run)', async () => {
    const { spec } = writeSpec('ort-engine-flag-', ['name: flag', 'datasets: [{ name: mnist, split: test, samples: { first: 2 } }]', 'models: [mnist-smallcnn]', 'attacks: [sigma-zero]', 'steps: [2]']);
    const bad = await cli(['run', spec, '--engine', 'onnx', '--data-dir', `${spec}.db`]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--engine/);
    if (!availableProviders().includes('cuda')) {
      const cuda = await cli(['run', spec, '--engine', 'ort-cuda', '--data-dir', `${spec}.db`]);
      expect(cuda.code).toBe(2);
      expect(cuda.err).toMatch(/CUDA execution provider/);
    }
  });
});
