/**
 * A battery of bad command-line input: every case exits 2 with the offending flag or argument
 * named and writes nothing (no wrong answer with exit 0, no crash). Plus the CLI's logging
 * contract (--log-format json and SIGMA_SWEEP_LOG reach spec errors), a quiet exit when stdout's
 * reader goes away, and what `run` says about tasks that failed for good.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { failureMessage } from '../orchestrator/commands/run.ts';
import { Store } from '../orchestrator/db/store.ts';
import { cli } from './helpers/cli.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SMOKE = path.join(ROOT, 'examples/mnist-smoke.yaml');


afterEach(() => {
  delete process.env.SIGMA_SWEEP_LOG;
});

describe('bad command-line input: exit 2, named, nothing written', () => {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'sigma-cli-input-'));
  const fresh = path.join(scratch, 'never-created'); // must still not exist at the end
  const existing = path.join(scratch, 'existing'); // a database with one sweep
  const aFile = path.join(scratch, 'a-file');
  const pgliteFile = path.join(scratch, 'pglite-is-a-file');

  beforeAll(async () => {
    writeFileSync(aFile, 'not a folder\n');
    mkdirSync(pgliteFile);
    writeFileSync(path.join(pgliteFile, 'pglite'), 'not a folder\n');
    const store = await Store.open({ dataDir: existing });
    try {
      await store.sweeps.upsert('s1', 'first', { name: 'first' });
    } finally {
      await store.close();
    }
  }, 60_000);

  // [args, what stderr must say]
  const cases: [string[], RegExp][] = [
    [['run', SMOKE, '--slots', '0.5', '--data-dir', fresh], /--slots: '0\.5' is not a whole number ≥ 1/],
    [['run', SMOKE, '--slots', '0', '--data-dir', fresh], /--slots: '0' is not a whole number ≥ 1/],
    [['run', SMOKE, '--slots', '2x', '--data-dir', fresh], /--slots: '2x' is not a whole number ≥ 1/],
    [['agent', '--slots', '1.5'], /--slots: '1\.5' is not a whole number ≥ 1/],
    [['submit', SMOKE, '--max-deliver', '4.5'], /--max-deliver: '4\.5' is not a whole number ≥ 1/],
    [['submit', SMOKE, '--ack-wait', '0'], /--ack-wait: '0' is not a positive number/],
    [['agent', '--drain-timeout', '-1'], /--drain-timeout: '-1' is not a positive number/],
    [['table', '--sweep', '', '--data-dir', existing], /--sweep: empty value/],
    [['table', '--sweep', '  ', '--data-dir', existing], /--sweep: empty value/],
    [['status', '--sweep', '', '--no-agents', '--data-dir', existing], /--sweep: empty value/],
    [['orchestrate', '--sweep', ''], /--sweep: empty value/],
    [['table', '--sweep', 'nope', '--data-dir', existing], /--sweep: no sweep 'nope'/],
    [['sql', '', '--data-dir', existing], /<query>: empty SQL/],
    [['sql', '@', '--data-dir', existing], /<query>: '@' must be followed by a file name/],
    [['sql', `@${path.join(scratch, 'missing.sql')}`, '--data-dir', existing], /<query>: cannot read .*missing\.sql: ENOENT/],
    [['sql', 'select 1', '--format', 'yaml', '--data-dir', existing], /option '--format <fmt>' argument 'yaml' is invalid/],
    [['run', 'a.yaml', 'b.yaml', '--data-dir', fresh], /too many arguments for 'run'\. Expected 1 argument but got 2/],
    [['table', 'extra', '--data-dir', existing], /too many arguments for 'table'\. Expected 0 arguments but got 1/],
    [['plan', SMOKE, 'extra'], /too many arguments for 'plan'/],
    [['sql', 'select 1', 'select 2', '--data-dir', existing], /too many arguments for 'sql'/],
    [['attacks', 'extra'], /too many arguments for 'attacks'/],
    [['migrate', 'extra', '--data-dir', existing], /too many arguments for 'migrate'/],
    [['table', '--data-dir', aFile], /--data-dir: '.*a-file' exists and is not a folder/],
    [['run', SMOKE, '--data-dir', aFile], /--data-dir: '.*a-file' exists and is not a folder/],
    [['table', '--data-dir', pgliteFile], /--data-dir: '.*pglite-is-a-file\/pglite' exists and is not a folder/],
    [['sql', 'select 1', '--data-dir', ''], /--data-dir: empty path/],
    [['status', '--ns', 'a.b', '--data-dir', existing], /--ns: namespace 'a\.b' may only hold letters, digits, '_' and '-'/],
    [['agent', '--ns', 'has space'], /--ns: namespace 'has space' may only hold/],
    [['submit', SMOKE, '--ns', 'x/y'], /--ns: namespace 'x\/y'/],
    [['migrate', '--data-dir', fresh], /--data-dir: no sigma-sweep database in/],
    [['run', path.join(scratch, 'missing.yaml'), '--data-dir', fresh], /missing\.yaml: invalid sweep spec:\n {2}- cannot read file: ENOENT/],
  ];

  it.each(cases)('%j', async (args, pattern) => {
    const r = await cli(args);
    expect(r.err).toMatch(pattern);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(existsSync(fresh)).toBe(false);
  });

  it('the sweep in the existing database is untouched', async () => {
    const r = await cli(['sql', 'select id, name from sweeps', '--format', 'csv', '--data-dir', existing]);
    expect(r.out).toBe('id,name\r\ns1,first\r\n');
    expect(readdirSync(scratch).sort()).toEqual(['a-file', 'existing', 'pglite-is-a-file']);
  });

  it('SIGMA_SWEEP_NS is checked like --ns', async () => {
    process.env.SIGMA_SWEEP_NS = 'bad.ns';
    try {
      const r = await cli(['agent']);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/--ns: namespace 'bad\.ns'/);
    } finally {
      delete process.env.SIGMA_SWEEP_NS;
    }
  });
});

describe('log format', () => {
  const missing = path.join(os.tmpdir(), 'sigma-no-such-spec.yaml');
  const jsonLine = (err: string) => {
    const lines = err.trim().split('\n');
    expect(lines).toHaveLength(1);
    return JSON.parse(lines[0]);
  };

  it('--log-format json: a spec error is one JSON line with the problems', async () => {
    const r = await cli(['--log-format', 'json', 'plan', missing]);
    expect(r.code).toBe(2);
    const line = jsonLine(r.err);
    expect(line).toMatchObject({ level: 'error', msg: `${missing}: invalid sweep spec`, source: missing, problems: ['cannot read file: ENOENT'] });
  });

  it('SIGMA_SWEEP_LOG=json is honoured; --log-format text still wins', async () => {
    process.env.SIGMA_SWEEP_LOG = 'json';
    const r = await cli(['plan', missing]);
    expect(r.code).toBe(2);
    expect(jsonLine(r.err).problems).toEqual(['cannot read file: ENOENT']);
    const u = await cli(['table', '--sweep', '', '--data-dir', os.tmpdir()]);
    expect(jsonLine(u.err)).toMatchObject({ level: 'error', msg: '--sweep: empty value' });
    const t = await cli(['--log-format', 'text', 'plan', missing]);
    expect(t.err).toBe(`${missing}: invalid sweep spec:\n  - cannot read file: ENOENT\n`);
  });

  it('--log-format json: commander\'s own errors are JSON lines too', async () => {
    const r = await cli(['--log-format', 'json', 'table', 'extra']);
    expect(r.code).toBe(2);
    expect(jsonLine(r.err)).toMatchObject({ level: 'error', msg: "too many arguments for 'table'. Expected 0 arguments but got 1." });
  });

  it('an unknown SIGMA_SWEEP_LOG value is bad input', async () => {
    process.env.SIGMA_SWEEP_LOG = 'yaml';
    const r = await cli(['attacks']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/value 'yaml' from env 'SIGMA_SWEEP_LOG' is invalid/);
  });
});

describe('stdout closed by its reader', () => {
  it('`plan … | head -1`: exits 0 without a stack trace', async () => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/sigma-sweep.js'), 'plan', path.join(ROOT, 'examples/mnist-paper.yaml')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.destroy(); // the reader is gone before the first line
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(err).toBe('');
    expect(code).toBe(0);
  }, 60_000);
});

describe('run: tasks that failed for good', () => {
  it('permanent failures say that rerunning will not help, and why', () => {
    expect(failureMessage([{ key: 'a', error: "model file missing: /m/model.json", permanent: true }])).toBe(
      '1 task(s) failed permanently (model file missing: /m/model.json): rerunning will not help until that is fixed',
    );
  });

  it('transient failures say to rerun; a mix says both', () => {
    expect(failureMessage([{ key: 'a', error: 'worker crashed', permanent: false }])).toBe('1 task(s) failed on errors that may be transient; rerun the same command to retry them');
    const mixed = failureMessage([
      { key: 'a', error: 'bad model', permanent: true },
      { key: 'b', error: 'bad model', permanent: true },
      { key: 'c', error: 'timeout' },
    ]);
    expect(mixed).toBe('2 task(s) failed permanently (bad model): rerunning will not help until that is fixed; 1 task(s) failed on errors that may be transient; rerun the same command to retry them');
  });
});
