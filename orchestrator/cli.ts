/**
 * The sigma-sweep command line. Exit codes: 0 ok, 1 failure, 2 bad input (spec, flags, files).
 * stdout carries results (tables, ids, query rows); logs and progress go to stderr.
 * Each command lives in orchestrator/commands/; this file builds the program and maps errors.
 */
import { Command, CommanderError, Option } from 'commander';
import { createLogger, type Logger } from '../protocol/log.ts';
import { SpecError } from './spec.ts';
import { UsageError, type CommandContext } from './commands/options.ts';
import { ExitCodeError } from './exit-code.ts';
import { runCommand } from './commands/run.ts';
import { tableCommand } from './commands/table.ts';
import { planCommand } from './commands/plan.ts';
import { sqlCommand } from './commands/sql.ts';
import { submitCommand } from './commands/submit.ts';
import { agentCommand } from './commands/agent.ts';
import { orchestrateCommand } from './commands/orchestrate.ts';
import { launchCommand } from './commands/launch.ts';
import { statusCommand } from './commands/status.ts';
import { attacksCommand } from './commands/attacks.ts';
import { modelsCommand } from './commands/models.ts';
import { migrateCommand } from './commands/migrate.ts';
import { curvesCommand } from './commands/curves.ts';
import { leaderboardCommand } from './commands/leaderboard.ts';
import { serveCommand } from './commands/serve.ts';

export { UsageError };

/** The commands, in the order `--help` lists them. */
const COMMANDS = [runCommand, tableCommand, curvesCommand, leaderboardCommand, serveCommand, planCommand, sqlCommand, migrateCommand, submitCommand, agentCommand, orchestrateCommand, launchCommand, statusCommand, attacksCommand, modelsCommand];

export function buildProgram(out: (s: string) => void, log: () => Logger): Command {
  const program = new Command('sigma-sweep')
    .description('Benchmark sparse (ℓ0) adversarial attacks: sweep specs → attack runs → PostgreSQL → paper-style tables.')
    .addOption(new Option('--log-format <fmt>', 'log format on stderr').choices(['text', 'json']).env('SIGMA_SWEEP_LOG').default('text'))
    .showHelpAfterError()
    .allowExcessArguments(false) // inherited by every command: `run a.yaml b.yaml` is an error, not a.yaml
    .exitOverride();
  // with JSON logs, commander's own errors (unknown option, too many arguments…) are JSON lines too,
  // without the usage text after them; set before the commands are added, which inherit it
  const jsonLogs = () => program.opts().logFormat === 'json';
  program.configureOutput({
    outputError: (str, write) => (jsonLogs() ? createLogger({ format: 'json' }).error(str.replace(/^error: /, '').trim()) : write(str)),
    writeErr: (str) => {
      if (!jsonLogs()) process.stderr.write(str);
    },
  });
  const ctx: CommandContext = { out, log };
  for (const register of COMMANDS) register(program, ctx);
  return program;
}

/** Whether `e` is bad input from the user (schema/errors.ts BadInputError, by its flag): exit 2. */
const isBadInput = (e: unknown) => typeof e === 'object' && e !== null && (e as { badInput?: unknown }).badInput === true;

/**
 * stdout as the results writer. When the reader goes away (`sigma-sweep plan … | head -1`) the
 * writes fail with EPIPE: the rest of the output is dropped quietly instead of dying with a stack.
 */
function stdoutWriter(): (s: string) => void {
  let closed = false;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    closed = true;
  });
  return (s) => {
    if (!closed) process.stdout.write(s);
  };
}

/** Run the CLI; returns the exit code. */
export async function main(argv: string[], out: (s: string) => void = stdoutWriter()): Promise<number> {
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
      if (program.opts().logFormat === 'json') log.error(`${e.source}: invalid sweep spec`, { source: e.source, problems: e.problems });
      else process.stderr.write(e.message + '\n');
      return 2;
    }
    if (e instanceof ExitCodeError) {
      // 130/143: stopped by a signal, as asked; what happened is news, not an error
      if (e.exitCode >= 128) log.info(e.message);
      else log.error(e.message);
      return e.exitCode;
    }
    if (e instanceof UsageError || isBadInput(e)) {
      log.error((e as Error).message);
      return 2;
    }
    const err = e as Error & { cause?: unknown };
    const cause = err.cause instanceof Error && !err.message.includes(err.cause.message) ? `: ${err.cause.message}` : '';
    log.error(err.message.replace(/\nparams:.*$/s, '') + cause);
    if (process.env.SIGMA_SWEEP_DEBUG) process.stderr.write(String((e as Error).stack) + '\n');
    return 1;
  }
}
