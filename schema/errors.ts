/**
 * Permanent versus transient failures, decided in one place. An error is permanent when retrying
 * the same task cannot help (a bad model file, an unknown attack, a batch that cannot fit, an
 * unreadable message): such errors extend PermanentError. Everything else (a crashed tensor worker,
 * NATS or PostgreSQL away, out of memory) is transient and worth another delivery. Errors that
 * cross a thread or process boundary keep the verdict in a `permanent` flag (TaskFailedError).
 */
export abstract class PermanentError extends Error {
  readonly permanent = true as const;
}

/** Whether retrying what failed with `err` is pointless: the one rule for the embedded runner, the agents and the ingester. */
export function isPermanent(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { permanent?: unknown }).permanent === true;
}

/**
 * Bad input from the user (a flag, a file, a name, a resource they pointed at): the command exits 2
 * with this message. The CLI's UsageError and the store's data-dir errors are such errors.
 */
export class BadInputError extends Error {
  readonly badInput = true as const;
}
