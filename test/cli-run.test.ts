/**
 * `sigma-sweep run` end to end on a small subset (8 MNIST test images, 10 steps): spec → planner →
 * in-process queue → agent → PGlite → table by SQL; `table` prints it again; a second `run` of the
 * same spec resumes (nothing to redo) and prints the same table.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../orchestrator/cli.ts';
import { cli } from './helpers/cli.ts';
import { writeSpec } from './helpers/zoo.ts';

describe('sigma-sweep run (embedded)', () => {
  it('prints the paper table, stores it, and resumes', async () => {
    const { dir, spec } = writeSpec('sigma-run-', ['name: tiny', 'datasets: [{ name: mnist, split: test, samples: { first: 8 } }]', 'models: [mnist-smallcnn]', 'attacks: [sigma-zero]', 'steps: [10]', 'batchSize: 4', 'shardSize: 4']);
    const dataDir = path.join(dir, 'data');
    const out1: string[] = [];
    expect(await main(['node', 'sigma-sweep', 'run', spec, '--data-dir', dataDir, '--no-progress'], (s) => out1.push(s))).toBe(0);
    const text = out1.join('');
    expect(text).toMatch(/^sweep tiny-[0-9a-f]{10}\n/);
    expect(text).toContain('| Attack');
    expect(text).toContain('ASR_10');
    expect(text).toContain('median ℓ0');
    expect(text).toContain('| *mnist-smallcnn* '); // the paper layout: a header row per model
    const row = text.split('\n').find((l) => l.startsWith('| sigma-zero'))!;
    const cells = row.split('|').map((c) => c.trim());
    expect(cells[7]).toBe('0.02'); // q ÷ 1000: 2·10 queries per sample
    expect(cells[8]).toMatch(/^\d+\.\d$/); // MiB, the kind in the header
    expect(text).toContain('memory (MiB, logical)');
    const flat = await cli(['table', '--layout', 'flat', '--data-dir', dataDir]);
    const flatCells = flat.out.split('\n').find((l) => l.startsWith('| sigma-zero'))!.split('|').map((c) => c.trim());
    expect(flatCells.slice(2, 5)).toEqual(['mnist-smallcnn', '10', '8']); // model, steps, N

    const out2: string[] = [];
    expect(await main(['node', 'sigma-sweep', 'table', '--data-dir', dataDir], (s) => out2.push(s))).toBe(0);
    expect(out2.join('')).toBe(text);

    const out3: string[] = [];
    expect(await main(['node', 'sigma-sweep', 'run', spec, '--data-dir', dataDir, '--no-progress'], (s) => out3.push(s))).toBe(0);
    expect(out3.join('')).toBe(text);

    const out4: string[] = [];
    expect(await main(['node', 'sigma-sweep', 'sql', 'select count(*)::int as n, sum(case when success then 1 else 0 end)::int as ok from sample_l0', '--data-dir', dataDir], (s) => out4.push(s))).toBe(0);
    expect(out4.join('').split('\n')[1].split('\t')[0]).toBe('8');
    expect(await main(['node', 'sigma-sweep', 'table', '--sweep', 'nope', '--data-dir', dataDir], () => {})).toBe(2);

    // status works for embedded sweeps too (no NATS needed)
    const out5: string[] = [];
    expect(await main(['node', 'sigma-sweep', 'status', '--data-dir', dataDir, '--nats', 'nats://127.0.0.1:1'], (s) => out5.push(s))).toBe(0);
    expect(out5.join('')).toMatch(/2\/2 tasks done \(100\.0%\)/);
    expect(out5.join('')).toMatch(/live agents: unknown \(NATS unreachable/);
  });
});
