/**
 * Rendering of `sigma-sweep sql` results. Rows are positional (two columns named `count` stay two
 * columns) and values are PostgreSQL's own text output (jsonb as JSON text, int8 exact, timestamps
 * as the server prints them); formats:
 *
 *   table  aligned columns for people, `NULL` for null, control characters and backslashes
 *          escaped (`\n`, `\t`, `\r`, `\\`) so that one row stays one line; numbers right-aligned;
 *          a final `(n rows)` line. A text value that is literally `NULL` looks like null here: use
 *          another format when that matters.
 *   tsv    PostgreSQL's COPY text format: a header line, tab-separated fields, `\t` `\n` `\r` `\\`
 *          escaped, null as `\N` (so a text value `NULL` or `\N` stays distinguishable).
 *   csv    RFC 4180: CRLF line ends, fields with `,` `"` CR or LF quoted with `"` doubled; null is
 *          an empty unquoted field, the empty string is `""` (as PostgreSQL's COPY CSV).
 *   json   an array of objects keyed by column name (one per line), typed values (booleans, numbers where exact:
 *          int2/int4/oid/float4/float8 and int8/numeric when the number round-trips, else strings;
 *          NaN/±Infinity as strings; json/jsonb as JSON; everything else as PostgreSQL's text),
 *          null as null. Column names must be unique (else a UsageError: name them with AS), so
 *          the shape never depends on the data.
 */
import type { RawField } from './db/raw-query.ts';

export const SQL_FORMATS = ['table', 'tsv', 'csv', 'json'] as const;
export type SqlFormat = (typeof SQL_FORMATS)[number];

export type Cell = string | null;

/** Type OIDs (pg_type) the renderers treat specially. */
const OID = { bool: 16, int8: 20, int2: 21, int4: 23, oid: 26, json: 114, float4: 700, float8: 701, numeric: 1700, jsonb: 3802 } as const;
const NUMERIC_OIDS = new Set<number>([OID.int8, OID.int2, OID.int4, OID.oid, OID.float4, OID.float8, OID.numeric]);

/** A column name that appears more than once, with its 1-based positions; null when all are unique. */
export function duplicateColumn(fields: RawField[]): { name: string; positions: number[] } | null {
  const seen = new Map<string, number[]>();
  fields.forEach((f, i) => seen.set(f.name, [...(seen.get(f.name) ?? []), i + 1]));
  for (const [name, positions] of seen) if (positions.length > 1) return { name, positions };
  return null;
}

/** Backslash-escape backslash, tab, newline and carriage return (COPY text format). */
export function escapeText(s: string): string {
  return s.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]!);
}

export function renderTsv(fields: RawField[], rows: Cell[][]): string {
  const line = (cells: Cell[]) => cells.map((c) => (c === null ? '\\N' : escapeText(c))).join('\t') + '\n';
  return line(fields.map((f) => f.name)) + rows.map(line).join('');
}

/** One RFC 4180 field; null → empty, '' → "". */
export function csvField(c: Cell): string {
  if (c === null) return '';
  if (c === '' || /[",\r\n]/.test(c)) return `"${c.replace(/"/g, '""')}"`;
  return c;
}

export function renderCsv(fields: RawField[], rows: Cell[][]): string {
  const line = (cells: Cell[]) => cells.map(csvField).join(',') + '\r\n';
  return line(fields.map((f) => f.name)) + rows.map(line).join('');
}

/** A PostgreSQL text value → the JSON value described in the header. */
export function jsonValue(c: Cell, typeId: number): unknown {
  if (c === null) return null;
  if (typeId === OID.bool) return c === 't' || c === 'true';
  if (typeId === OID.json || typeId === OID.jsonb) return JSON.parse(c);
  if (NUMERIC_OIDS.has(typeId)) {
    const n = Number(c);
    if (!Number.isFinite(n)) return c; // NaN, Infinity, -Infinity
    if (typeId === OID.float4 || typeId === OID.float8 || typeId === OID.int2 || typeId === OID.int4 || typeId === OID.oid) return n;
    return String(n) === c ? n : c; // int8 / numeric: only when exact
  }
  return c;
}

export function renderJson(fields: RawField[], rows: Cell[][]): string {
  const objects = rows.map((r) => JSON.stringify(Object.fromEntries(fields.map((f, i) => [f.name, jsonValue(r[i], f.typeId)]))));
  return objects.length ? `[\n${objects.map((o) => `  ${o}`).join(',\n')}\n]\n` : '[]\n';
}

/** Display width: code points (ℓ, ∞ and the like count one). */
const width = (s: string) => [...s].length;

export function renderTable(fields: RawField[], rows: Cell[][]): string {
  const shown = rows.map((r) => r.map((c) => (c === null ? 'NULL' : escapeText(c))));
  const heads = fields.map((f) => escapeText(f.name));
  const widths = heads.map((h, i) => Math.max(width(h), ...shown.map((r) => width(r[i]))));
  const right = fields.map((f) => NUMERIC_OIDS.has(f.typeId));
  const last = fields.length - 1;
  const pad = (s: string, i: number) => {
    const fill = ' '.repeat(widths[i] - width(s));
    return right[i] ? fill + s : i === last ? s : s + fill; // no trailing blanks after the last column
  };
  const line = (cells: string[]) => cells.map(pad).join(' | ') + '\n';
  const rule = widths.map((w) => '-'.repeat(w)).join('-+-') + '\n';
  const count = `(${rows.length} ${rows.length === 1 ? 'row' : 'rows'})\n`;
  return line(heads) + rule + shown.map(line).join('') + count;
}

export function renderRows(format: SqlFormat, fields: RawField[], rows: Cell[][]): string {
  switch (format) {
    case 'table':
      return renderTable(fields, rows);
    case 'tsv':
      return renderTsv(fields, rows);
    case 'csv':
      return renderCsv(fields, rows);
    case 'json':
      return renderJson(fields, rows);
  }
}
