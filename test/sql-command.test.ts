/**
 * `sigma-sweep sql` shows exactly what PostgreSQL returned (duplicate column names, jsonb, NULL,
 * tabs and newlines, int8 beyond 2^53) in four formats; it is read-only unless --write; and
 * `sigma-sweep migrate` finds and (where it holds no data) repairs a damaged schema, on PGlite and
 * on PostgreSQL.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../orchestrator/db/store.ts';
import { expectedTables, expectedViews } from '../orchestrator/db/schema-check.ts';
import { csvField, escapeText, jsonValue, renderCsv, renderJson, renderTable, renderTsv } from '../orchestrator/sql-format.ts';
import { createTempDatabase } from './helpers/pg.ts';
import { cli } from './helpers/cli.ts';


const F = (name: string, typeId = 25) => ({ name, typeId });

describe('sql output formats (orchestrator/sql-format.ts)', () => {
  const fields = [F('count', 20), F('count', 20), F('spec', 3802), F('note'), F('ok', 16)];
  const rows = [
    ['12', '3', '{"a": [1, 2]}', 'tab\there\nnew line \\ back', 't'],
    ['9007199254740993', '0', null, null, null],
    ['1', '2', '{}', '', 'f'],
  ];

  it('tsv: positional, COPY-text escapes, null as \\N', () => {
    expect(renderTsv(fields, rows)).toBe(
      'count\tcount\tspec\tnote\tok\n' + '12\t3\t{"a": [1, 2]}\ttab\\there\\nnew line \\\\ back\tt\n' + '9007199254740993\t0\t\\N\t\\N\t\\N\n' + '1\t2\t{}\t\tf\n',
    );
  });

  it('csv: RFC 4180 quoting, CRLF, null empty and the empty string ""', () => {
    expect(renderCsv(fields, rows)).toBe(
      'count,count,spec,note,ok\r\n' + '12,3,"{""a"": [1, 2]}","tab\there\nnew line \\ back",t\r\n' + '9007199254740993,0,,,\r\n' + '1,2,{},"",f\r\n',
    );
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('plain')).toBe('plain');
  });

  it('table: aligned, numbers right, NULL shown, one line per row, row count', () => {
    expect(renderTable(fields, rows)).toBe(
      [
        '           count | count | spec          | note                        | ok',
        '-----------------+-------+---------------+-----------------------------+-----',
        '              12 |     3 | {"a": [1, 2]} | tab\\there\\nnew line \\\\ back | t',
        '9007199254740993 |     0 | NULL          | NULL                        | NULL',
        '               1 |     2 | {}            |                             | f',
        '(3 rows)',
        '',
      ].join('\n'),
    );
    expect(renderTable([F('x')], [])).toBe('x\n-\n(0 rows)\n');
  });

  it('json: typed values, exact numbers only, jsonb as JSON', () => {
    const f = [F('n', 23), F('big', 20), F('num', 1700), F('x', 701), F('j', 3802), F('b', 16), F('t', 1184), F('nul')];
    expect(renderJson(f, [['7', '9007199254740993', '1.50', 'Infinity', '{"k": [1]}', 'f', '2026-01-02 03:04:05.123456+00', null]])).toBe(
      '[\n  {"n":7,"big":"9007199254740993","num":"1.50","x":"Infinity","j":{"k":[1]},"b":false,"t":"2026-01-02 03:04:05.123456+00","nul":null}\n]\n',
    );
    expect(jsonValue('42', 20)).toBe(42);
    expect(jsonValue('0.25', 1700)).toBe(0.25);
    expect(renderJson([F('a')], [])).toBe('[]\n');
    expect(escapeText('a\r\nb')).toBe('a\\r\\nb');
  });
});

/** The same checks against one database: `db` are the flags that name it. */
function databaseSuite(label: string, setup: () => Promise<{ db: string[]; done: () => Promise<void> }>) {
  describe(`sql and migrate on ${label}`, () => {
    let db: string[] = [];
    let done = async () => {};
    beforeAll(async () => {
      ({ db, done } = await setup());
      const store = await Store.open(db[0] === '--db' ? { databaseUrl: db[1] } : { dataDir: db[1] });
      try {
        await store.sweeps.upsert('s1', 'first', { name: 'first', steps: [10], note: 'tab\there' });
      } finally {
        await store.close();
      }
    }, 60_000);
    afterAll(() => done());

    it('duplicate column names, jsonb, NULL and control characters come out exactly', async () => {
      const r = await cli(['sql', "select count(*), count(distinct name), spec, null::text as gone, E'a\\tb\\nc' as ctl from sweeps group by spec", '--format', 'tsv', ...db]);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.out).toBe('count\tcount\tspec\tgone\tctl\n1\t1\t{"name": "first", "note": "tab\\\\there", "steps": [10]}\t\\N\ta\\tb\\nc\n');
      const t = await cli(['sql', 'select count(*), count(distinct name) from sweeps where false', '--format', 'table', ...db]);
      expect(t.out).toBe('count | count\n------+------\n    0 |     0\n(1 row)\n');
      const j = await cli(['sql', 'select id, spec, created_at is not null as stamped from sweeps', '--format', 'json', ...db]);
      expect(j.out).toBe('[\n  {"id":"s1","spec":{"name":"first","note":"tab\\there","steps":[10]},"stamped":true}\n]\n');
    });

    it('defaults to the table on a terminal and to tsv in a pipe', async () => {
      const q = ['sql', 'select 1 as one, null as nothing', ...db];
      expect((await cli(q)).out).toBe('one\tnothing\n1\t\\N\n');
      const was = Object.getOwnPropertyDescriptor(process.stdout, 'isTTY');
      Object.defineProperty(process.stdout, 'isTTY', { value: true, configurable: true });
      try {
        expect((await cli(q)).out).toBe('one | nothing\n----+--------\n  1 | NULL\n(1 row)\n');
      } finally {
        if (was) Object.defineProperty(process.stdout, 'isTTY', was);
        else delete (process.stdout as { isTTY?: boolean }).isTTY;
      }
    });

    it('json refuses duplicate names (exit 2, nothing committed even with --write)', async () => {
      const r = await cli(['sql', "update sweeps set name = 'renamed' returning name, name", '--write', '--format', 'json', ...db]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/--format json: column name 'name' appears at positions 1 and 2/);
      const after = await cli(['sql', 'select name from sweeps', '--format', 'csv', ...db]);
      expect(after.out).toBe('name\r\nfirst\r\n');
    });

    it('is read-only without --write: DROP ... CASCADE exits 2 naming --write and changes nothing', async () => {
      for (const q of ['DROP TABLE tasks CASCADE', "insert into dead_tasks (task_key, sweep_id, reason) values ('k', 's', 'r')", 'set transaction read write']) {
        const r = await cli(['sql', q, ...db]);
        expect(r.code, q).toBe(2);
        expect(r.out).toBe('');
      }
      expect((await cli(['sql', 'DROP TABLE tasks CASCADE', ...db])).err).toMatch(/read-only transaction.*pass --write to allow it/);
      const m = await cli(['migrate', ...db]);
      expect(m.code).toBe(0);
      expect(m.out).toBe('schema sound\n');
    });

    it('bad statements exit 2 with the reason; one statement per call', async () => {
      const cases: [string, RegExp][] = [
        ['', /<query>: empty SQL/],
        ['  \n ', /<query>: empty SQL/],
        ['selec 1', /sql: syntax error at or near "selec" \(SQLSTATE 42601\)/],
        ['select 1; select 2', /one statement per call/],
        ['select 1/0', /division by zero \(SQLSTATE 22012\)/],
        ['select * from no_such_table', /relation "no_such_table" does not exist \(if it is one of sigma-sweep's tables or views, `sigma-sweep migrate`/],
      ];
      for (const [q, pattern] of cases) {
        const r = await cli(['sql', q, ...db]);
        expect(r.code, q).toBe(2);
        expect(r.err, q).toMatch(pattern);
        expect(r.out, q).toBe('');
      }
    });

    it('migrate: a dropped view is re-created by --repair', async () => {
      // group_summary is built on attack_summary and leaderboard_entries on group_summary, so dropping it takes CASCADE and all three go
      expect((await cli(['sql', 'drop view attack_summary cascade', '--write', ...db])).code).toBe(0);
      const m = await cli(['migrate', ...db]);
      expect(m.code).toBe(1);
      expect(m.out).toBe(
        'schema damaged: 3 problem(s)\n' +
          '  - view attack_summary is missing\n' +
          '      repair: --repair re-creates the views from their definitions (views hold no data)\n' +
          '  - view group_summary is missing\n' +
          '      repair: --repair re-creates the views from their definitions (views hold no data)\n' +
          '  - view leaderboard_entries is missing\n' +
          '      repair: --repair re-creates the views from their definitions (views hold no data)\n' +
          'run `sigma-sweep migrate --repair` for the ones marked repair\n',
      );
      const fixed = await cli(['migrate', '--repair', ...db]);
      expect(fixed.code).toBe(0);
      expect(fixed.out).toBe('repaired: re-created views sample_l0, attack_summary, group_summary, robustness_curve, ensemble_best, attack_optimality, attack_global_optimality, leaderboard_nights, leaderboard_entries\nschema sound\n');
      expect((await cli(['sql', 'select count(*) from attack_summary', ...db])).out).toBe('count\n0\n');
    });

    it('migrate: a view with other columns is found and repaired', async () => {
      expect((await cli(['sql', 'create or replace view sample_l0 as select 1 as x', '--write', ...db])).code).toBe(2); // cannot drop columns of a view
      expect((await cli(['sql', 'drop view attack_summary cascade', '--write', ...db])).code).toBe(0);
      expect((await cli(['sql', 'drop view sample_l0 cascade', '--write', ...db])).code).toBe(0);
      expect((await cli(['sql', 'create view sample_l0 as select 1 as x', '--write', ...db])).code).toBe(0);
      const m = await cli(['migrate', ...db]);
      expect(m.code).toBe(1);
      expect(m.out).toMatch(/view sample_l0 has columns \(x integer\), its definition gives \(sweep_id text, dataset text, /);
      expect(m.out).toMatch(/view attack_summary is missing/);
      expect((await cli(['migrate', '--repair', ...db])).code).toBe(0);
    });

    it('migrate: a dropped foreign key is added back; a dropped column is only reported', async () => {
      expect((await cli(['sql', 'alter table tasks drop constraint tasks_sweep_id_sweeps_id_fk', '--write', ...db])).code).toBe(0);
      const m = await cli(['migrate', '--repair', ...db]);
      expect(m.out).toBe('repaired: added foreign key tasks_sweep_id_sweeps_id_fk\nschema sound\n');
      expect(m.code).toBe(0);
      expect((await cli(['sql', 'alter table dead_tasks drop column deliveries', '--write', ...db])).code).toBe(0);
      const c = await cli(['migrate', '--repair', ...db]);
      expect(c.code).toBe(1);
      expect(c.out).toBe(
        'schema damaged: 1 problem(s)\n' +
          '  - column dead_tasks.deliveries (integer) is missing\n' +
          '      to do: restore it from a backup or start a new database; sigma-sweep does not guess its lost values\n',
      );
      expect((await cli(['sql', 'alter table dead_tasks add column deliveries integer', '--write', ...db])).code).toBe(0);
      expect((await cli(['migrate', ...db])).out).toBe('schema sound\n');
    });

    it('migrate: DROP TABLE tasks CASCADE (with --write) is named with how to recover; --repair does not guess', async () => {
      expect((await cli(['sql', 'DROP TABLE tasks CASCADE', '--write', ...db])).code).toBe(0);
      for (const args of [['migrate'], ['migrate', '--repair']]) {
        const m = await cli([...args, ...db]);
        expect(m.code, args.join(' ')).toBe(1);
        const lines = m.out.split('\n').filter((l) => l.startsWith('  - '));
        expect(lines).toEqual([
          '  - table tasks is missing',
          '  - foreign key sample_results_task_key_tasks_key_fk (sample_results(task_key) → tasks(key)) is missing',
          '  - foreign key batch_metrics_task_key_tasks_key_fk (batch_metrics(task_key) → tasks(key)) is missing',
          '  - view sample_l0 is missing',
          '  - view attack_summary is missing',
          '  - view group_summary is missing',
          '  - view robustness_curve is missing',
          '  - view ensemble_best is missing',
          '  - view attack_optimality is missing',
          '  - view attack_global_optimality is missing',
          '  - view leaderboard_entries is missing',
        ]);
        expect(m.out).toMatch(/Restore table tasks from a backup .* An empty table tasks is not recreated here: the rows of sample_results, batch_metrics that refer to it could no longer be matched\./);
        expect(m.out).not.toMatch(/repaired:/);
        expect(m.err).toMatch(/schema damaged: 11 problem\(s\)/);
      }
    });
  });
}

databaseSuite('PGlite', async () => ({ db: ['--data-dir', mkdtempSync(path.join(os.tmpdir(), 'sigma-sql-'))], done: async () => {} }));
databaseSuite('PostgreSQL', async () => {
  const { url, drop } = await createTempDatabase();
  return { db: ['--db', url], done: drop };
});

describe('the expected schema', () => {
  it('comes from schema/tables.ts and the latest view definitions of the migrations', () => {
    expect(expectedTables().map((t) => t.name).sort()).toEqual(['batch_metrics', 'dead_tasks', 'sample_results', 'sweeps', 'tasks']);
    const tasks = expectedTables().find((t) => t.name === 'tasks')!;
    expect(tasks.columns.find((c) => c.name === 'sample_indices')).toEqual({ name: 'sample_indices', type: 'integer[]', notNull: true });
    expect(tasks.foreignKeys.map((f) => f.name)).toEqual(['tasks_sweep_id_sweeps_id_fk']);
    const views = expectedViews();
    expect(views.map((v) => v.name)).toEqual(['sample_l0', 'attack_summary', 'group_summary', 'robustness_curve', 'ensemble_best', 'attack_optimality', 'attack_global_optimality', 'leaderboard_nights', 'leaderboard_entries']);
    expect(views[1].sql).toMatch(/^-- Backfill|CREATE OR REPLACE VIEW attack_summary/m); // the 0003 definition, with budget_unit
    expect(views[1].sql).toMatch(/r\.budget_unit\s+FROM rates r/);
  });
});
