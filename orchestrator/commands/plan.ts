/** `sigma-sweep plan <spec>`: validate a spec and list the tasks it expands to; writes nothing. */
import type { Command } from 'commander';
import { planSweep } from '../planner.ts';
import { loadSpecFile } from '../spec.ts';
import type { CommandContext } from './options.ts';

export function planCommand(program: Command, { out }: CommandContext): void {
  program
    .command('plan')
    .description('Validate a sweep spec and list the tasks it expands to (nothing is written).')
    .argument('<spec>', 'sweep spec (YAML)')
    .option('--json', 'print the tasks as JSON lines', false)
    .action(async (specFile: string, flags: { json: boolean }) => {
      const spec = loadSpecFile(specFile);
      const { sweepId, tasks } = planSweep(spec);
      if (flags.json) for (const t of tasks) out(JSON.stringify(t) + '\n');
      else {
        const runs = tasks.reduce((a, t) => a + t.sampleIndices.length, 0);
        out(`sweep ${sweepId}: ${tasks.length} task(s), ${runs} attack runs\n`);
        for (const t of tasks) {
          const samples = `${t.dataset.name}/${t.dataset.split}[${t.sampleIndices[0]}..${t.sampleIndices.at(-1)}]`;
          out(`  ${t.key}  ${samples} ${t.model.name} ${t.attack.label} steps=${t.steps}\n`);
        }
      }
    });
}
