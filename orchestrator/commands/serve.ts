/**
 * `sigma-sweep serve DIR`: serve a folder (a leaderboard site) over HTTP on this machine; prints
 * the URL and runs until interrupted (SIGINT/SIGTERM close it and exit 0).
 */
import type { Command } from 'commander';
import { serveFolder } from '../leaderboard/static-server.ts';
import { nonEmpty, UsageError, type CommandContext } from './options.ts';

function portArg(v: string): number {
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || n > 65535) throw new UsageError(`--port: '${v}' is not a port number (0–65535; 0: any free port)`);
  return n;
}

export function serveCommand(program: Command, { out, log }: CommandContext): void {
  program
    .command('serve')
    .description('Serve a folder (a leaderboard site) over HTTP; prints the URL, runs until Ctrl-C.')
    .argument('<dir>', 'the folder to serve')
    .option('--port <n>', 'port (0: any free port)', portArg, 8080)
    .option('--host <host>', 'address to listen on', nonEmpty('--host'), '127.0.0.1')
    .action(async (dir: string, flags: { port: number; host: string }) => {
      const running = await serveFolder(dir, flags.port, flags.host);
      out(`${running.url}\n`);
      log().info(`serving ${dir} at ${running.url} (Ctrl-C stops)`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void running.close().then(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
