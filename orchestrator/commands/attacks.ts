/** `sigma-sweep attacks`: list the attacks a sweep spec can name. */
import type { Command } from 'commander';
import { ATTACKS } from '../../agent/attacks/registry.ts';
import type { CommandContext } from './options.ts';

export function attacksCommand(program: Command, { out }: CommandContext): void {
  program
    .command('attacks')
    .description('List the attacks a sweep spec can name.')
    .action(() => {
      for (const a of ATTACKS.values()) out(`${a.name.padEnd(14)} ${a.description}\n`);
    });
}
