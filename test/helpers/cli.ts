/** The CLI run in this process, with stdout and stderr captured (stderr through a spy). */
import { vi } from 'vitest';
import { main } from '../../orchestrator/cli.ts';

export async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (err.push(String(s)), true));
  try {
    const code = await main(['node', 'sigma-sweep', ...args], (s) => out.push(s));
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    vi.restoreAllMocks();
  }
}
