/**
 * `sigma-sweep models` and `models verify`: the zoo listing, and the three checks (digest, I/O
 * contract, clean accuracy) with their exit codes: 0 all pass, 1 a check fails, 2 bad input.
 */
import { describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.ts';
import { writeTinyModel } from './helpers/tiny-model.ts';
import { selectBackend } from '../agent/engine/backend.ts';
import { accuracyConsistent } from '../agent/models/verify.ts';
import { zooManifest } from '../agent/models/zoo.ts';

describe('models', () => {
  it('lists every zoo entry with its format, input contract and short digest', async () => {
    const r = await cli(['models']);
    expect(r.code).toBe(0);
    for (const [name, e] of Object.entries(zooManifest())) {
      const line = r.out.split('\n').find((l) => l.startsWith(`${name} `));
      expect(line, name).toBeDefined();
      expect(line).toContain(e.format);
      expect(line).toContain(e.sha256.slice(0, 12));
      expect(line).toContain(e.inputShape.join('×'));
    }
    const json = await cli(['models', '--format', 'json']);
    expect(JSON.parse(json.out)).toEqual(zooManifest());
  });

  it('verifies the zoo SmallCNN: digest, contract and accuracy consistent with the manifest', async () => {
    const r = await cli(['models', 'verify', 'mnist-smallcnn', '--samples', '200', '--backend', 'wasm']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^ok {3}sha256 {3}f7ce5a6c/m);
    expect(r.out).toMatch(/^ok {3}contract .*\[batch, 28, 28, 1\].*\[batch, 10\]/m);
    expect(r.out).toMatch(/^ok {3}accuracy \d+\.\d\d % on the first 200 mnist test samples; recorded 99\.35 %/m);
  });

  it('fails (exit 1) on a digest the file does not have, before loading anything', async () => {
    const r = await cli(['models', 'verify', 'mnist-smallcnn', '--sha256', 'b'.repeat(64)]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^FAIL sha256 {3}mismatch: the file has f7ce5a6c\w+, expected b{64}/m);
    expect(r.out).not.toMatch(/contract|accuracy/);
  });

  it('fails (exit 1) on a model whose outputs do not fit the dataset, naming both shapes', async () => {
    await selectBackend('wasm');
    const m = await writeTinyModel('five-classes', [28, 28, 1], 5);
    const r = await cli(['models', 'verify', m.path, '--dataset', 'mnist', '--backend', 'wasm']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^ok {3}sha256 {3}[0-9a-f]{64} \(no expected digest given/m);
    expect(r.out).toMatch(/^FAIL contract model five-classes outputs \[batch, 5\] but dataset mnist has 10 classes/m);
  });

  it('reports the accuracy of a user model without judging it (no recorded accuracy)', async () => {
    const m = await writeTinyModel('zeros', [28, 28, 1], 10); // all-zero weights: always class 0
    const r = await cli(['models', 'verify', m.path, '--dataset', 'mnist', '--sha256', m.sha256, '--samples', '100', '--backend', 'wasm']);
    expect(r.code, r.err).toBe(0);
    // class 0 among the first 100 MNIST test labels: 8 of them
    expect(r.out).toMatch(/^ok {3}accuracy 8\.00 % on the first 100 mnist test samples$/m);
  });

  it.each([
    [['models', 'verify', '/nonexistent/model.onnx', '--dataset', 'mnist'], /not a zoo model .*\/nonexistent\/model\.onnx does not exist/],
    [['models', 'verify', 'mnist-smallcnn', '--dataset', 'cifar-11'], /--dataset: unknown dataset 'cifar-11'/],
    [['models', 'verify', 'mnist-smallcnn', '--sha256', 'XYZ'], /--sha256: expected 64 lowercase hex digits/],
    [['models', 'verify', '/etc'], /no model\.json in \/etc/],
    [['models', 'verify', 'mnist-smallcnn', '--samples', '0'], /--samples/],
  ])('bad input %j exits 2 naming the problem', async (args, pattern) => {
    const r = await cli(args as string[]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(pattern);
    expect(r.out).toBe('');
  });

  it('accepts accuracies within sampling noise of the recorded one, and not beyond', () => {
    expect(accuracyConsistent(0.99, 0.9935, 500)).toBe(true);
    expect(accuracyConsistent(1.0, 0.9935, 300)).toBe(true);
    expect(accuracyConsistent(0.9, 0.9935, 500)).toBe(false); // a broken import, e.g. a wrong flatten order
    expect(accuracyConsistent(0.1, 0.9935, 500)).toBe(false);
    expect(accuracyConsistent(0.5, 0.52, 1000)).toBe(true);
    expect(accuracyConsistent(0.4, 0.52, 1000)).toBe(false);
  });
});
