/**
 * `sigma-sweep submit --wait` end to end through the CLI with a real agent process: it ingests until
 * the sweep is done and prints the table in the `--format` asked for (issue 12, item 5).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.ts';
import { createTempDatabase } from './helpers/pg.ts';
import { SHARED_NATS, dropNamespace, freshNamespace, spawnAgent, stopAgents, type AgentProc } from './helpers/nats.ts';
import { writeSpec } from './helpers/zoo.ts';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

describe('submit --wait', () => {
  it('prints the sweep id, then the table in --format csv', async () => {
    const db = await createTempDatabase();
    const ns = freshNamespace('submitfmt');
    const agents: AgentProc[] = [spawnAgent(SHARED_NATS, ns, ['--id', 'fmt-agent', '--slots', '1'])];
    cleanups.push(async () => (await stopAgents(agents), await dropNamespace(SHARED_NATS, ns), await db.drop()));
    const { spec } = writeSpec('sigma-submit-', ['name: fmt', 'datasets: [{ name: mnist, samples: { first: 4 } }]', 'models: [mnist-smallcnn]', 'attacks: [noop]', 'steps: [1]', 'batchSize: 2', 'shardSize: 2']);
    const r = await cli(['submit', spec, '--wait', '--format', 'csv', '--db', db.url, '--nats', SHARED_NATS, '--ns', ns]);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toMatch(/^fmt-[0-9a-f]{10}$/);
    expect(lines[1]).toBe('sweep,sweep_id,dataset,model,attack,steps,n,asr_10,asr_50,asr_inf,median_l0,seconds_per_sample,queries_per_sample,memory_bytes,memory_kind');
    expect(lines[2]).toMatch(/^fmt,fmt-[0-9a-f]{10},mnist,mnist-smallcnn,noop,1,4,/);
    expect(lines).toHaveLength(3);
  });
});
