/**
 * The sigma-sweep command line. Exit codes: 0 ok, 1 failure, 2 bad input (spec, flags, files).
 * stdout carries results (tables, ids, query rows); logs and progress go to stderr.
 * Each command lives in orchestrator/commands/; this file builds the program and maps errors.
 */
import { Command, CommanderError, Option } from 'commander';
import { createLogger, type Logger } from '../protocol/log.ts';
import { SpecError } from './spec.ts';
import { UsageError, type CommandContext } from './commands/options.ts';
import { runCommand } from './commands/run.ts';
import { tableCommand } from './commands/table.ts';
import { planCommand } from './commands/plan.ts';
import { sqlCommand } from './commands/sql.ts';
import { submitCommand } from './commands/submit.ts';
import { agentCommand } from './commands/agent.ts';
import { orchestrateCommand } from './commands/orchestrate.ts';
import { statusCommand } from './commands/status.ts';
import { attacksCommand } from './commands/attacks.ts';

export { UsageError };

/** The commands, in the order `--help` lists them. */
const COMMANDS = [runCommand, tableCommand, planCommand, sqlCommand, submitCommand, agentCommand, orchestrateCommand, statusCommand, attacksCommand];

export function buildProgram(out: (s: string) => void, log: () => Logger): Command {
  const program = new Command('sigma-sweep')
    .description('Benchmark sparse (ℓ0) adversarial attacks: sweep specs → attack runs → PostgreSQL → paper-style tables.')
    .addOption(new Option('--log-format <fmt>', 'log format on stderr').choices(['text', 'json']).default('text'))
    .showHelpAfterError()
    .exitOverride();
  const ctx: CommandContext = { out, log };
  for (const register of COMMANDS) register(program, ctx);
  return program;
}

/** Run the CLI; returns the exit code. */
export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  let logger: Logger | null = null;
  const program = buildProgram(out, () => (logger ??= createLogger({ format: program.opts().logFormat })));
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    const log = logger ?? createLogger({ format: program.opts().logFormat });
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version') return 0;
      return 2; // commander already printed the problem and the usage
    }
    if (e instanceof SpecError) {
      process.stderr.write(e.message + '\n');
      return 2;
    }
    if (e instanceof UsageError) {
      log.error(e.message);
      return 2;
    }
    const err = e as Error & { cause?: unknown };
    const cause = err.cause instanceof Error && !err.message.includes(err.cause.message) ? `: ${err.cause.message}` : '';
    log.error(err.message.replace(/\nparams:.*$/s, '') + cause);
    if (process.env.SIGMA_SWEEP_DEBUG) process.stderr.write(String((e as Error).stack) + '\n');
    return 1;
  }
}
