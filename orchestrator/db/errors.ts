/**
 * What went wrong with the database, in words: the one place that reads a store error's cause.
 * drizzle wraps driver errors in one whose message is "Failed query: <sql>\nparams: <every
 * parameter>"; that text is never shown, the cause chain holds the driver's error and its code.
 * Used when a database is opened (connection.ts), by the ingester and by the orchestrator (DbHealth).
 */
import type { Logger } from '../../protocol/log.ts';

/** The cause of a store error, short and safe to log: a code (pg SQLSTATE or errno) and a message. */
export interface DbCause {
  code: string;
  message: string;
}

/**
 * Dig out the cause of a store error. drizzle wraps driver errors in one whose message is
 * "Failed query: <sql>\nparams: <every parameter>": that text is never used; the cause chain
 * (err.cause) holds the driver's error with its code.
 */
export function describeDbError(e: unknown): DbCause {
  const chain: Array<Error & { code?: unknown; errno?: unknown; errors?: unknown[] }> = [];
  for (let cur: unknown = e; cur instanceof Error && chain.length < 8; cur = (cur as { cause?: unknown }).cause) chain.push(cur);
  const wrapped = (x: Error) => /^Failed query:/.test(x.message);
  const root = [...chain].reverse().find((x) => !wrapped(x));
  if (!root) return { code: 'unknown', message: 'query failed (no cause given)' };
  const code = typeof root.code === 'string' ? root.code : typeof root.errno === 'string' ? root.errno : '';
  // an AggregateError (every address refused) has an empty message; its first error says more
  const first = Array.isArray(root.errors) && root.errors[0] instanceof Error ? (root.errors[0] as Error).message : '';
  const message = (root.message || first || code || root.name).split('\n')[0].slice(0, 200);
  return { code, message };
}

/** "ECONNREFUSED (connect ECONNREFUSED 127.0.0.1:5432)", or the message alone when there is no code. */
export function causeText(c: DbCause): string {
  return c.code ? `${c.code} (${c.message})` : c.message;
}

/** Errno codes and SQLSTATE classes that mean "the database is not reachable (now)". */
const UNAVAILABLE_CODE = /^(E(CONNREFUSED|CONNRESET|CONNABORTED|TIMEDOUT|HOSTUNREACH|NETUNREACH|PIPE|NOTFOUND|AI_AGAIN)|08...|57P0[1-3]|53300)$/;
const UNAVAILABLE_MESSAGE = /connection terminated|connection timeout|timeout exceeded when trying to connect|connection error|not queryable/i;

/** Whether a store error means the database is unavailable (rather than a bad statement or row). */
export function isDbUnavailable(c: DbCause): boolean {
  return UNAVAILABLE_CODE.test(c.code) || UNAVAILABLE_MESSAGE.test(c.message);
}

/**
 * The database's availability as this process sees it, logged once per state change: one warning
 * naming the cause when it goes away ("database unavailable: ECONNREFUSED …"), one line when it is
 * back, nothing per failed statement in between (that was thousands of lines, each with the SQL).
 */
export class DbHealth {
  private downSince: number | null = null;
  private failures = 0;

  constructor(private readonly log: Logger) {}

  get down(): boolean {
    return this.downSince !== null;
  }

  /** A store call failed; returns its cause. Outage errors are logged only when the outage begins. */
  failed(e: unknown, what: string): DbCause {
    const cause = describeDbError(e);
    if (!isDbUnavailable(cause)) {
      this.log.warn(`${what} failed: ${causeText(cause)}; will retry`);
      return cause;
    }
    this.failures++;
    if (this.downSince === null) {
      this.downSince = Date.now();
      this.log.warn(`database unavailable: ${causeText(cause)}; retrying`);
    }
    return cause;
  }

  /** A store call succeeded: if the database was down, say once that it is back. */
  ok(): void {
    if (this.downSince === null) return;
    this.log.info('database back', { downSeconds: Number(((Date.now() - this.downSince) / 1000).toFixed(1)), failedCalls: this.failures });
    this.downSince = null;
    this.failures = 0;
  }
}
