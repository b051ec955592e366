/**
 * The few Kubernetes API calls `launch` makes, over @kubernetes/client-node 1.x (object-parameter
 * calls), each turning a refusal into a KubeApiError that names the verb, resource and namespace
 * (errors.ts). Jobs: create, read, scale (a merge patch of spec.parallelism), delete (background
 * propagation: the pods go with the Job). Pods: list and watch by label selector.
 */
import { BatchV1Api, CoreV1Api, KubeConfig, PatchStrategy, Watch, setHeaderOptions, type V1Job, type V1Pod } from '@kubernetes/client-node';
import { BadInputError } from '../../schema/errors.ts';
import { kubeError, statusOf, type KubeIdentity, type KubeOperation } from './errors.ts';

export interface KubeConfigFlags {
  kubeconfig?: string;
  context?: string;
}

/**
 * The kubeconfig named by the flags: a file, else the default chain (KUBECONFIG, ~/.kube/config,
 * the pod's service account). client-node falls back to http://localhost:8080 when it finds none;
 * that is never what a user means, so it is refused with the places that were looked at.
 */
export function loadKubeConfig(flags: KubeConfigFlags): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
    else kc.loadFromDefault();
  } catch (e) {
    throw new BadInputError(`--kubeconfig: cannot load ${flags.kubeconfig ?? 'the default kubeconfig'}: ${(e as Error).message}`);
  }
  if (flags.context) {
    if (!kc.getContextObject(flags.context)) throw new BadInputError(`--context: no context '${flags.context}' in the kubeconfig (have: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`);
    kc.setCurrentContext(flags.context);
  }
  if (!flags.kubeconfig && kc.getCurrentContext() === 'loaded-context' && kc.getCurrentCluster()?.server === 'http://localhost:8080') {
    throw new BadInputError('no kubeconfig found ($KUBECONFIG, ~/.kube/config, or a pod service account): pass --kubeconfig <file>');
  }
  if (!kc.getCurrentCluster()) throw new BadInputError(`--kubeconfig: context '${kc.getCurrentContext()}' names no cluster`);
  return kc;
}

export interface PodList {
  pods: V1Pod[];
  resourceVersion: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class KubeClient {
  readonly batch: BatchV1Api;
  readonly core: CoreV1Api;
  readonly who: KubeIdentity;

  constructor(readonly kc: KubeConfig) {
    this.batch = kc.makeApiClient(BatchV1Api);
    this.core = kc.makeApiClient(CoreV1Api);
    this.who = { server: kc.getCurrentCluster()?.server ?? '?', context: kc.getCurrentContext(), user: kc.getCurrentUser()?.name ?? '?' };
  }

  private async call<T>(op: KubeOperation, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw kubeError(e, op, this.who);
    }
  }

  private jobOp(verb: string, namespace: string, name?: string, sweep?: string): KubeOperation {
    return { verb, resource: 'jobs', group: 'batch', namespace, name, sweep };
  }

  createJob(namespace: string, body: V1Job, sweep?: string): Promise<V1Job> {
    return this.call(this.jobOp('create', namespace, body.metadata?.name, sweep), () => this.batch.createNamespacedJob({ namespace, body }));
  }

  /** The Job, or null when it does not exist. */
  async readJob(namespace: string, name: string): Promise<V1Job | null> {
    try {
      return await this.batch.readNamespacedJob({ namespace, name });
    } catch (e) {
      if (statusOf(e) === 404) return null;
      throw kubeError(e, this.jobOp('get', namespace, name), this.who);
    }
  }

  /** Set spec.parallelism (a JSON merge patch: only that field changes). */
  async scaleJob(namespace: string, name: string, parallelism: number): Promise<V1Job> {
    return this.call(this.jobOp('patch', namespace, name), () => this.batch.patchNamespacedJob({ namespace, name, body: { spec: { parallelism } } }, mergePatch));
  }

  /** Delete the Job and, in the background, its pods; false when it was already gone. */
  async deleteJob(namespace: string, name: string): Promise<boolean> {
    try {
      await this.batch.deleteNamespacedJob({ namespace, name, propagationPolicy: 'Background' });
      return true;
    } catch (e) {
      if (statusOf(e) === 404) return false;
      throw kubeError(e, this.jobOp('delete', namespace, name), this.who);
    }
  }

  async listPods(namespace: string, labelSelector: string): Promise<PodList> {
    const list = await this.call({ verb: 'list', resource: 'pods', group: '', namespace }, () => this.core.listNamespacedPod({ namespace, labelSelector }));
    return { pods: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
  }

  /**
   * Watch pods from `resourceVersion`; `done` is called once when the stream ends (null: closed by
   * the server; an Error, with statusCode when the server answered). Returns the abort handle.
   */
  watchPods(
    namespace: string,
    labelSelector: string,
    resourceVersion: string,
    onEvent: (type: WatchEventType, obj: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const query: Record<string, string | boolean | number> = { labelSelector, allowWatchBookmarks: true, timeoutSeconds: 300 };
    if (resourceVersion) query.resourceVersion = resourceVersion;
    return new Watch(this.kc).watch(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`, query, (type, obj) => onEvent(type as WatchEventType, obj), done);
  }

  /** The error for a refused watch (watch errors carry statusCode, not an ApiException). */
  watchError(e: unknown, namespace: string) {
    return kubeError(e, { verb: 'watch', resource: 'pods', group: '', namespace }, this.who);
  }
}
