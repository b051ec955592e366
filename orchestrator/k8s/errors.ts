/**
 * Kubernetes API refusals as errors a user can act on, with their own exit codes
 * (orchestrator/exit-code.ts): 401/403 → 3 with the identity and the missing permission (verb,
 * resource, API group, namespace, read from the Status body when the server names them), 409 → 4
 * with the two ways out, 404/422 → 2 (a namespace or a field of the flags is wrong), anything else
 * (5xx, connection refused) → 1. client-node 1.x throws ApiException with `code` and, for most
 * codes, the response text as `body` (a JSON Status object); 401 comes without a body, and the
 * pod watch reports a refused request as an Error with `statusCode`.
 */
import { EXIT, ExitCodeError } from '../exit-code.ts';

/** What the launcher tried: `create jobs.batch "name" in namespace "ns"`. */
export interface KubeOperation {
  verb: string;
  resource: string;
  /** API group ('' for the core group: pods) */
  group: string;
  namespace: string;
  name?: string;
  /** the sweep the object belongs to (for the way out of a conflict) */
  sweep?: string;
}

/** Who and where: for messages (never credentials). */
export interface KubeIdentity {
  server: string;
  context: string;
  user: string;
}

export class KubeApiError extends ExitCodeError {
  constructor(
    exitCode: number,
    message: string,
    readonly status: number | null,
    readonly op: KubeOperation,
  ) {
    super(exitCode, message);
    this.name = 'KubeApiError';
  }
}

/** The fields of a Kubernetes Status object that the messages use. */
interface StatusBody {
  message?: string;
  reason?: string;
  details?: { name?: string; group?: string; kind?: string; causes?: Array<{ field?: string; message?: string; reason?: string }> };
}

function parseStatus(body: unknown): StatusBody {
  if (body && typeof body === 'object') return body as StatusBody;
  if (typeof body === 'string') {
    try {
      const v = JSON.parse(body);
      if (v && typeof v === 'object') return v as StatusBody;
    } catch {
      return { message: body.trim() || undefined };
    }
  }
  return {};
}

const resourceName = (op: KubeOperation) => (op.group ? `${op.resource}.${op.group}` : op.resource);

/**
 * The permission a 403 names. The API server's message reads
 * `User "<u>" cannot <verb> resource "<resource>" in API group "<group>" in the namespace "<ns>"`;
 * whatever it leaves out comes from the operation that was refused.
 */
export function forbiddenPermission(body: unknown, op: KubeOperation): { user: string | null; verb: string; resource: string; group: string; namespace: string } {
  const msg = parseStatus(body).message ?? '';
  const m = /User "([^"]*)" cannot (\S+) resource "([^"]+)"(?: in API group "([^"]*)")?(?: in the namespace "([^"]+)")?/.exec(msg);
  return {
    user: m?.[1] ?? null,
    verb: m?.[2] ?? op.verb,
    resource: m?.[3] ?? op.resource,
    group: m?.[4] ?? op.group,
    namespace: m?.[5] ?? op.namespace,
  };
}

/** The ApiException (or watch error) status code, or null for errors that never reached the server. */
export function statusOf(e: unknown): number | null {
  if (!e || typeof e !== 'object') return null;
  const o = e as { code?: unknown; statusCode?: unknown };
  if (typeof o.code === 'number') return o.code;
  if (typeof o.statusCode === 'number') return o.statusCode;
  return null;
}

/** Translate a failed API call into a KubeApiError naming what to do about it. */
export function kubeError(e: unknown, op: KubeOperation, who: KubeIdentity): KubeApiError {
  const status = statusOf(e);
  const body = parseStatus((e as { body?: unknown })?.body);
  const what = `${op.verb} ${resourceName(op)}${op.name ? ` "${op.name}"` : ''} in namespace "${op.namespace}"`;
  switch (status) {
    case 401:
      return new KubeApiError(
        EXIT.notAllowed,
        `Kubernetes API ${who.server} rejected the credentials of user "${who.user}" (kubeconfig context "${who.context}") with 401 Unauthorized while trying to ${what}: ` +
          'the token or certificate is missing, expired or not trusted; refresh it, or pick another context with --context / --kubeconfig',
        status,
        op,
      );
    case 403: {
      const p = forbiddenPermission(body, op);
      const group = p.group ? ` in API group "${p.group}"` : ' in the core API group';
      return new KubeApiError(
        EXIT.notAllowed,
        `forbidden: ${p.user ? `"${p.user}"` : `user "${who.user}"`} may not ${p.verb} ${p.resource}${group} in namespace "${p.namespace}". ` +
          `Grant it with a Role rule { apiGroups: ["${p.group}"], resources: ["${p.resource}"], verbs: ["${p.verb}"] } bound in "${p.namespace}" ` +
          '(launch needs get, list, watch on pods and create, get, patch, delete on jobs.batch)',
        status,
        op,
      );
    }
    case 404:
      if (op.verb === 'create' || op.verb === 'list') {
        return new KubeApiError(EXIT.badInput, `--namespace: cannot ${what}: ${body.message ?? 'not found'} (does the namespace exist?)`, status, op);
      }
      return new KubeApiError(EXIT.failure, `cannot ${what}: it does not exist any more (${body.message ?? 'not found'}); was it deleted by someone else?`, status, op);
    case 409:
      return new KubeApiError(
        EXIT.conflict,
        `cannot ${what}: it already exists (${body.message ?? '409 Conflict'}). A Job for this sweep is running or finished: ` +
          `watch and scale it with \`sigma-sweep launch --sweep ${op.sweep ?? '<id>'} --namespace ${op.namespace} --adopt\`, or delete it with \`kubectl delete job ${op.name ?? '<name>'} -n ${op.namespace}\` and launch again`,
        status,
        op,
      );
    case 422: {
      const causes = (body.details?.causes ?? []).map((c) => (c.field ? `${c.field}: ${c.message ?? c.reason ?? ''}` : (c.message ?? ''))).filter(Boolean);
      return new KubeApiError(
        EXIT.badInput,
        `the API server rejected the ${resourceName(op)} as invalid: ${causes.length ? causes.join('; ') : (body.message ?? '422 Unprocessable Entity')}`,
        status,
        op,
      );
    }
    default: {
      const detail = status ? `${status}${body.message ? `: ${body.message}` : ''}` : ((e as Error)?.message ?? String(e));
      return new KubeApiError(EXIT.failure, `Kubernetes API ${who.server}: cannot ${what}: ${detail}`, status, op);
    }
  }
}
