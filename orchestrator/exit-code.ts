/**
 * Exit codes beyond the three every command shares (0 ok, 1 failure, 2 bad input), and the error
 * that carries one to orchestrator/cli.ts.
 * `launch` answers API refusals with their own codes so that scripts can tell "fix your RBAC" from
 * "a Job for this sweep is already running"; a Job's agent stopped by a signal must not exit 0.
 */
export const EXIT = {
  ok: 0,
  failure: 1,
  badInput: 2,
  /** the Kubernetes API refused the credentials (401) or the permission (403) */
  notAllowed: 3,
  /** the Kubernetes object exists already (409) */
  conflict: 4,
  /** stopped by SIGINT (128 + 2) */
  sigint: 130,
  /** stopped by SIGTERM (128 + 15): what a drained Job agent reports, and its Job ignores */
  sigterm: 143,
} as const;

export class ExitCodeError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'ExitCodeError';
  }
}

