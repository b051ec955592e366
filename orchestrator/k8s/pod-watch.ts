/**
 * The pods of one sweep's Job, kept current from the API server: a list (which also proves the
 * permission before anything is created), then a watch from the list's resourceVersion. Watches
 * end — the server closes them every few minutes, proxies and load balancers cut them, the API
 * server restarts — so a closed watch is opened again from the last resourceVersion seen, after a
 * backoff that grows while reconnects fail (250 ms doubling to 30 s) and resets once events flow.
 * A resourceVersion the server no longer has (410 Gone) means events were missed: list again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../protocol/log.ts';
import type { KubeClient, WatchEventType } from './client.ts';
import { statusOf } from './errors.ts';

/** What `status` shows of a pod. */
export interface PodView {
  name: string;
  /** Pending, Running, Succeeded, Failed, Unknown; "Terminating" while being deleted */
  phase: string;
  restarts: number;
  node: string | null;
  /** why it is waiting or how it ended (ImagePullBackOff, OOMKilled, Error…), with the exit code */
  reason: string | null;
  exitCode: number | null;
}

/** A pod as `status` shows it. */
export function podView(pod: V1Pod): PodView {
  const cs = pod.status?.containerStatuses?.[0];
  const terminated = cs?.state?.terminated;
  const waiting = cs?.state?.waiting;
  return {
    name: pod.metadata?.name ?? '?',
    phase: pod.metadata?.deletionTimestamp && !['Succeeded', 'Failed'].includes(pod.status?.phase ?? '') ? 'Terminating' : (pod.status?.phase ?? 'Unknown'),
    restarts: (pod.status?.containerStatuses ?? []).reduce((a, c) => a + (c.restartCount ?? 0), 0),
    node: pod.spec?.nodeName ?? null,
    reason: terminated?.reason ?? waiting?.reason ?? pod.status?.reason ?? null,
    exitCode: terminated?.exitCode ?? null,
  };
}

export const WATCH_BACKOFF_MIN_MS = 250;
export const WATCH_BACKOFF_MAX_MS = 30_000;
/** A watch that lasted this long before it ended counts as healthy (the backoff starts over). */
const HEALTHY_WATCH_MS = 10_000;

export interface PodWatchStats {
  /** watch requests opened */
  watches: number;
  /** lists made (the first, and one per 410 Gone) */
  lists: number;
  /** resourceVersion each watch started from, in order (tests check the resume point) */
  resumedFrom: string[];
}

export class PodWatcher {
  private readonly byName = new Map<string, PodView>();
  private resourceVersion = '';
  private stopped = false;
  private abort: AbortController | null = null;
  private backoffMs = WATCH_BACKOFF_MIN_MS;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | null = null;
  readonly stats: PodWatchStats = { watches: 0, lists: 0, resumedFrom: [] };

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly selector: string,
    private readonly log: Logger,
    private readonly onChange: (pods: PodView[]) => void,
    private readonly backoff = { minMs: WATCH_BACKOFF_MIN_MS, maxMs: WATCH_BACKOFF_MAX_MS },
  ) {
    this.backoffMs = backoff.minMs;
  }

  /** The pods now, by name. */
  pods(): PodView[] {
    return [...this.byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** List the pods (throws KubeApiError when that is refused), then keep watching in the background. */
  async start(): Promise<void> {
    await this.list();
    this.loop = this.watchLoop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.stopping.abort();
    await this.loop;
  }

  private async list(): Promise<void> {
    const l = await this.client.listPods(this.namespace, this.selector);
    this.stats.lists++;
    this.byName.clear();
    for (const p of l.pods) this.byName.set(p.metadata?.name ?? '?', podView(p));
    this.resourceVersion = l.resourceVersion;
    this.onChange(this.pods());
  }

  private onEvent(type: WatchEventType, obj: unknown): 'gone' | void {
    if (type === 'ERROR') return statusOf(obj) === 410 ? 'gone' : undefined;
    const pod = obj as V1Pod;
    const rv = pod?.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    this.backoffMs = this.backoff.minMs; // events flow: the connection is healthy
    if (type === 'BOOKMARK') return;
    const name = pod?.metadata?.name;
    if (!name) return;
    if (type === 'DELETED') this.byName.delete(name);
    else this.byName.set(name, podView(pod));
    this.onChange(this.pods());
  }

  /** One watch, until the stream ends; resolves with why. */
  private async watchOnce(): Promise<{ gone: boolean; err: unknown }> {
    return new Promise((resolve) => {
      let gone = false;
      this.stats.watches++;
      this.stats.resumedFrom.push(this.resourceVersion);
      this.client
        .watchPods(
          this.namespace,
          this.selector,
          this.resourceVersion,
          (type, obj) => {
            if (this.onEvent(type, obj) === 'gone') {
              gone = true;
              this.abort?.abort();
            }
          },
          (err) => resolve({ gone: gone || statusOf(err) === 410, err }),
        )
        .then((ac) => {
          this.abort = ac;
          if (this.stopped) ac.abort();
        })
        .catch((err) => resolve({ gone: false, err }));
    });
  }

  private async watchLoop(): Promise<void> {
    while (!this.stopped) {
      const began = Date.now();
      const { gone, err } = await this.watchOnce();
      // a watch that stayed up a while was healthy, whether or not its quiet stream carried events
      if (Date.now() - began > HEALTHY_WATCH_MS) this.backoffMs = this.backoff.minMs;
      if (this.stopped) return;
      if (gone) {
        this.log.info('pod watch: resourceVersion expired (410 Gone); listing again');
      } else if (err) {
        const status = statusOf(err);
        if (status === 401 || status === 403) {
          // the permission was there for the list; say once per failure, keep trying (it may be restored)
          this.log.warn(this.client.watchError(err, this.namespace).message);
        } else {
          this.log.warn('pod watch dropped; reconnecting', { error: (err as Error)?.message ?? String(err), retryMs: this.backoffMs });
        }
      } else {
        this.log.debug('pod watch closed by the server; reconnecting', { resourceVersion: this.resourceVersion });
      }
      await sleep(this.backoffMs, undefined, { signal: this.stopping.signal }).catch(() => {});
      this.backoffMs = Math.min(this.backoff.maxMs, this.backoffMs * 2);
      if (this.stopped) return;
      if (gone) {
        try {
          await this.list();
        } catch (e) {
          this.log.warn('pod list failed; retrying', { error: (e as Error).message });
        }
      }
    }
  }
}
