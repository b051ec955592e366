/**
 * An in-process FAKE Kubernetes API server (node:http) for the `launch` tests: no real API server
 * can run here. It serves only what the launcher calls — Jobs (POST, GET, PATCH, DELETE) and pods
 * (list, and watch as a stream of JSON lines) — and records every request, so tests can check
 * what the client really sent. Tests drive it: pod events are pushed by hand (there is no Job
 * controller), watches can be dropped, and any verb on any resource can be made to answer 403.
 * A kubeconfig file pointing at it is written for `--kubeconfig`.
 */
import http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | null;
  body: unknown;
}

type Obj = Record<string, any>;

export interface FakeKubeApi {
  url: string;
  kubeconfig: string;
  requests: RecordedRequest[];
  jobs: Map<string, Obj>;
  pods: Map<string, Obj>;
  /** the resourceVersion of every pod list served, in order */
  listed: string[];
  /** make `verb resource` (e.g. 'create jobs', 'list pods') answer 403 as the API server does */
  forbid(verb: string, resource: string, user?: string): void;
  /** push a pod event to every open watch (and keep the pod for lists); returns its resourceVersion */
  emitPod(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: Obj): string;
  /** cut every open watch connection (as a proxy or an API server restart does) */
  dropWatches(): void;
  /** tell every open watch that its resourceVersion is too old (an ERROR event with a 410 Status), as etcd compaction does */
  expireWatches(): void;
  openWatches(): number;
  close(): Promise<void>;
}

const json = (res: http.ServerResponse, code: number, body: unknown) => {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

const status = (code: number, reason: string, message: string, details?: Obj) => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details, code });

export async function startFakeKubeApi(): Promise<FakeKubeApi> {
  const requests: RecordedRequest[] = [];
  const jobs = new Map<string, Obj>();
  const pods = new Map<string, Obj>();
  const forbidden = new Map<string, string>();
  const listed: string[] = [];
  /** open watch streams, with the namespace and label selector each asked for */
  const watches = new Map<http.ServerResponse, { ns: string; key: string; value: string }>();
  const selects = (w: { ns: string; key: string; value: string }, pod: Obj) => pod.metadata.namespace === w.ns && (!w.key || pod.metadata.labels?.[w.key] === w.value);
  let rv = 100;
  const nextRv = () => String(++rv);

  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      let body: unknown = null;
      try {
        body = raw ? JSON.parse(raw) : null;
      } catch {
        body = raw;
      }
      const query = Object.fromEntries(u.searchParams);
      requests.push({ method: req.method ?? '', path: u.pathname, query, contentType: req.headers['content-type'] ?? null, body });
      route(req.method ?? '', u.pathname, query, body, res);
    });
  });

  const deny = (verb: string, resource: string, group: string, ns: string, res: http.ServerResponse): boolean => {
    const user = forbidden.get(`${verb} ${resource}`);
    if (user === undefined) return false;
    const g = group ? ` in API group "${group}"` : ' in API group ""';
    json(res, 403, status(403, 'Forbidden', `${resource}${group ? '.' + group : ''} is forbidden: User "${user}" cannot ${verb} resource "${resource}"${g} in the namespace "${ns}"`, { kind: resource, group }));
    return true;
  };

  function route(method: string, p: string, query: Record<string, string>, body: unknown, res: http.ServerResponse) {
    let m = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs(?:\/([^/]+))?$/.exec(p);
    if (m) {
      const [, ns, name] = m;
      const key = `${ns}/${name}`;
      if (method === 'POST' && !name) {
        if (deny('create', 'jobs', 'batch', ns, res)) return;
        const job = structuredClone(body as Obj);
        const jn = job?.metadata?.name;
        if (!jn || !job?.spec?.template?.spec?.containers?.[0]?.image) {
          json(res, 422, status(422, 'Invalid', `Job.batch "${jn}" is invalid`, { causes: [{ field: 'spec.template.spec.containers[0].image', message: 'Required value', reason: 'FieldValueRequired' }] }));
          return;
        }
        if (jobs.has(`${ns}/${jn}`)) {
          json(res, 409, status(409, 'AlreadyExists', `jobs.batch "${jn}" already exists`, { name: jn, group: 'batch', kind: 'jobs' }));
          return;
        }
        job.metadata = { ...job.metadata, namespace: ns, uid: `uid-${jn}`, resourceVersion: nextRv(), creationTimestamp: new Date().toISOString() };
        job.status = {};
        jobs.set(`${ns}/${jn}`, job);
        json(res, 201, job);
        return;
      }
      const job = jobs.get(key);
      const verb = method === 'GET' ? 'get' : method === 'PATCH' ? 'patch' : method === 'DELETE' ? 'delete' : '';
      if (name && verb) {
        if (deny(verb, 'jobs', 'batch', ns, res)) return;
        if (!job) {
          json(res, 404, status(404, 'NotFound', `jobs.batch "${name}" not found`, { name, group: 'batch', kind: 'jobs' }));
          return;
        }
        if (method === 'GET') return json(res, 200, job);
        if (method === 'PATCH') {
          const spec = (body as Obj)?.spec ?? {};
          job.spec = { ...job.spec, ...spec };
          job.metadata.resourceVersion = nextRv();
          return json(res, 200, job);
        }
        jobs.delete(key);
        return json(res, 200, { kind: 'Status', apiVersion: 'v1', status: 'Success', details: { name, group: 'batch', kind: 'jobs', uid: job.metadata.uid } });
      }
    }
    m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(p);
    if (m && method === 'GET') {
      const ns = m[1];
      const watch = query.watch === 'true';
      if (deny(watch ? 'watch' : 'list', 'pods', '', ns, res)) return;
      const [key, value] = (query.labelSelector ?? '').split('=');
      const matching = [...pods.values()].filter((pod) => selects({ ns, key, value }, pod));
      if (!watch) {
        listed.push(String(rv));
        return json(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items: matching });
      }
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.flushHeaders();
      watches.set(res, { ns, key, value });
      res.on('close', () => watches.delete(res));
      return;
    }
    json(res, 404, status(404, 'NotFound', `the fake API server does not serve ${method} ${p}`));
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const url = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sigma-kube-'));
  const kubeconfig = path.join(dir, 'config');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{ name: fake, cluster: { server: "' + url + '", insecure-skip-tls-verify: true } }]',
      'users: [{ name: launcher, user: { token: fake-token } }]',
      'contexts: [{ name: fake, context: { cluster: fake, user: launcher, namespace: sweeps } }]',
      'current-context: fake',
      '',
    ].join('\n'),
  );

  return {
    url,
    kubeconfig,
    requests,
    jobs,
    pods,
    listed,
    forbid: (verb, resource, user = 'system:serviceaccount:sweeps:launcher') => forbidden.set(`${verb} ${resource}`, user),
    emitPod(type, pod) {
      const obj = structuredClone(pod);
      obj.metadata = { ...obj.metadata, resourceVersion: nextRv() };
      const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
      if (type === 'DELETED') pods.delete(key);
      else pods.set(key, obj);
      for (const [w, sel] of watches) if (selects(sel, obj)) w.write(JSON.stringify({ type, object: obj }) + '\n');
      return obj.metadata.resourceVersion;
    },
    dropWatches() {
      for (const w of watches.keys()) w.destroy();
      watches.clear();
    },
    expireWatches() {
      const gone = status(410, 'Expired', 'too old resource version: 1 (2)');
      for (const w of watches.keys()) w.end(JSON.stringify({ type: 'ERROR', object: gone }) + '\n');
      watches.clear();
    },
    openWatches: () => watches.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const w of watches.keys()) w.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A pod of a launched Job, as the Job controller would make it. */
export function fakePod(name: string, namespace: string, labels: Record<string, string>, phase: string, extra: { restarts?: number; node?: string; exitCode?: number; reason?: string } = {}): Obj {
  const state = extra.exitCode !== undefined ? { terminated: { exitCode: extra.exitCode, reason: extra.reason ?? 'Error' } } : phase === 'Running' ? { running: {} } : { waiting: { reason: extra.reason ?? 'ContainerCreating' } };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: { nodeName: extra.node, containers: [{ name: 'agent', image: 'x' }] },
    status: { phase, containerStatuses: [{ name: 'agent', restartCount: extra.restarts ?? 0, ready: phase === 'Running', image: 'x', imageID: '', state }] },
  };
}
