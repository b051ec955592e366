/**
 * Values written into report queries. `store.reports.query` takes SQL text without bind
 * parameters, so the few user-given values (sweep ids, leaderboard names, attack labels) are written
 * as literals here, in one place: E'…' strings, whose escapes mean the same whatever the server's
 * standard_conforming_strings, with `\` and `'` doubled; integers only when they are safe integers.
 */
import { BadInputError } from '../../schema/errors.ts';

export function sqlText(v: string): string {
  // PostgreSQL text cannot hold NUL; refuse it rather than let the server fail mid-report
  if (v.includes('\0')) throw new BadInputError(`a NUL character cannot be part of a name: ${JSON.stringify(v)}`);
  return `E'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

export function sqlInt(n: number): string {
  if (!Number.isSafeInteger(n)) throw new Error(`sqlInt: ${n} is not a safe integer`);
  return String(n);
}
